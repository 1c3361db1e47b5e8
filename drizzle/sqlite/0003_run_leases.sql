ALTER TABLE `messages` ADD `node_id` text;--> statement-breakpoint
ALTER TABLE `messages` ADD `lease_expires_at` integer;--> statement-breakpoint
CREATE UNIQUE INDEX `messages_one_active_run_idx` ON `messages` (`thread_id`) WHERE status in ('streaming', 'awaiting_approval');