-- Full-text search over message content for the search_history tool: a GIN index over an expression,
-- kept current by PostgreSQL itself. Words are split the way SQLite's unicode61 tokenizer splits them
-- (every punctuation mark separates, so `src/app.ts` is three words rather than one file name), then
-- lower-cased and, where the unaccent extension can be installed, stripped of diacritics.
CREATE TEXT SEARCH CONFIGURATION "message_search" (COPY = pg_catalog.simple);
--> statement-breakpoint
DO $$
BEGIN
  -- unaccent is a trusted extension (PostgreSQL 13+): the database owner may install it without superuser.
  CREATE EXTENSION IF NOT EXISTS unaccent;
  ALTER TEXT SEARCH CONFIGURATION "message_search"
    ALTER MAPPING FOR word, numword, hword, numhword, hword_part, hword_numpart WITH unaccent, simple;
EXCEPTION WHEN insufficient_privilege OR undefined_file OR undefined_object THEN
  RAISE WARNING 'unaccent is unavailable (%): message search will not fold accents', SQLERRM;
END
$$;
--> statement-breakpoint
-- A SQL-standard body is bound at creation, so the index does not depend on the caller's search_path.
CREATE FUNCTION "message_search_document"(content text) RETURNS tsvector
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  RETURN to_tsvector('message_search'::regconfig, regexp_replace(content, '[[:punct:]]+', ' ', 'g'));
--> statement-breakpoint
CREATE INDEX "messages_content_search_idx" ON "messages" USING gin ("message_search_document"("content"));
