ALTER TABLE `threads` ADD `event_seq` integer;--> statement-breakpoint
ALTER TABLE `threads` ADD `event_epoch` text;