#!/usr/bin/env bash
# Follow an agentwire channel or thread over plain HTTP with curl (docs/protocol.md section 10), and
# resume exactly where the stream stopped after a cut: the last `id:` seen goes back as Last-Event-ID.
#
#   TOKEN=$(bun run src/index.ts token --sub dev)
#   TOKEN=$TOKEN examples/sse-curl.sh channel user:dev              # follow a channel until Ctrl-C
#   TOKEN=$TOKEN examples/sse-curl.sh --from-start --until-final thread T   # a whole run, then exit
#
# Prints each event's data (the payload JSON with its "seq") on a line of stdout, once, in order;
# what happens to the connection goes to stderr. Options: --from-start replays all kept history
# first (?since=0), --until-final ends after the first event with "final_message": true.
# Environment: TOKEN (or AGENTWIRE_TOKEN), AGENTWIRE_HTTP (default http://localhost:8080),
# SSE_RETRIES (attempts in a row that receive nothing before giving up, default 10),
# SSE_RETRY_DELAY (seconds between attempts, default 1).

set -u -o pipefail
# The reading loop below is the last part of a pipeline: run it in this shell so that what it
# remembers (the last id) outlives each curl.
shopt -s lastpipe

usage() {
  echo "usage: TOKEN=<jwt> $0 [--from-start] [--until-final] channel NAME | thread ID" >&2
  exit 2
}

from_start=false
until_final=false
while [ $# -gt 0 ]; do
  case "$1" in
    --from-start) from_start=true; shift ;;
    --until-final) until_final=true; shift ;;
    *) break ;;
  esac
done
[ $# -eq 2 ] || usage
case "$1" in
  channel) path="/channels/$2/events" ;;
  thread) path="/threads/$2/events" ;;
  *) usage ;;
esac
token="${TOKEN:-${AGENTWIRE_TOKEN:-}}"
[ -n "$token" ] || usage
base="${AGENTWIRE_HTTP:-http://localhost:8080}"
retries="${SSE_RETRIES:-10}"
delay="${SSE_RETRY_DELAY:-1}"

query=""
$until_final && query="until=final"
# Only the first request asks for all history; every later one resumes from Last-Event-ID, which wins.
first_query="$query"
$from_start && first_query="since=0${query:+&$query}"

last_id=""
failures=0
while :; do
  url="$base$path"
  if [ -z "$last_id" ]; then url="$url${first_query:+?$first_query}"; else url="$url${query:+?$query}"; fi
  resume=()
  [ -n "$last_id" ] && resume=(-H "Last-Event-ID: $last_id")

  # One event is the lines up to a blank one. Its id counts (and its data is printed) only once the
  # blank line arrived: an event cut in the middle is sent again after the resume, as EventSource does.
  event_id=""
  name=""
  data=""
  received=0
  final=false
  curl -sSN --fail -H "Authorization: Bearer $token" "${resume[@]}" "$url" |
    while IFS= read -r line; do
      line="${line%$'\r'}"
      received=$((received + 1))
      case "$line" in
        "")
          [ -n "$event_id" ] && last_id="$event_id"
          if [ "$name" = reset ]; then
            # The position could not be recovered (server restarted, too far behind): what follows is live.
            echo "[history lost, going on live from $data: reload the snapshot (GET /threads/:id/messages)]" >&2
          elif [ -n "$data" ]; then
            printf '%s\n' "$data"
            case "$data" in *'"final_message":true'*) final=true ;; esac
          fi
          event_id=""
          name=""
          data=""
          ;;
        "id: "*) event_id="${line#id: }" ;;
        # The payload's type, also in the data; only "reset" matters here.
        "event: "*) name="${line#event: }" ;;
        "data: "*) data="${data:+$data$'\n'}${line#data: }" ;;
        # Anything else is a comment (": ping", which keeps proxies from closing a quiet stream).
      esac
    done
  status="${PIPESTATUS[0]}"

  $until_final && $final && exit 0
  # 22: the server answered with an error (401, 403, 404...): trying again would not help.
  if [ "$status" -eq 22 ]; then
    echo "[refused by the server: check the token and the name]" >&2
    exit 1
  fi
  if [ "$received" -gt 0 ]; then failures=0; else failures=$((failures + 1)); fi
  if [ "$failures" -ge "$retries" ]; then
    echo "[gave up after $failures attempts in a row that received nothing]" >&2
    exit 1
  fi
  echo "[stream ended (curl $status); resuming${last_id:+ after $last_id}]" >&2
  sleep "$delay"
done
