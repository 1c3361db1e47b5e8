-- A streaming message is left out of the full-text index: re-indexing its whole text at every
-- checkpoint was most of the checkpoint's cost. It is indexed once it stops streaming, and the search
-- adds the owner's streaming messages for the length of one query (src/storage/sqlite/sqlite-storage.ts).
-- The index holds exactly the rows whose status is not 'streaming', with their current content, so
-- a 'delete' is only ever given what was indexed.
DROP TRIGGER `messages_fts_insert`;
--> statement-breakpoint
DROP TRIGGER `messages_fts_delete`;
--> statement-breakpoint
DROP TRIGGER `messages_fts_update`;
--> statement-breakpoint
-- The old triggers kept every row indexed with its current content, so that is what is removed.
INSERT INTO `messages_fts`(`messages_fts`, rowid, content) SELECT 'delete', rowid, content FROM `messages` WHERE status = 'streaming';
--> statement-breakpoint
CREATE TRIGGER `messages_fts_insert` AFTER INSERT ON `messages` WHEN new.status <> 'streaming' BEGIN
  INSERT INTO `messages_fts`(rowid, content) VALUES (new.rowid, new.content);
END;
--> statement-breakpoint
CREATE TRIGGER `messages_fts_delete` AFTER DELETE ON `messages` WHEN old.status <> 'streaming' BEGIN
  INSERT INTO `messages_fts`(`messages_fts`, rowid, content) VALUES ('delete', old.rowid, old.content);
END;
--> statement-breakpoint
-- One trigger, so that the old text is removed before the new one is added.
CREATE TRIGGER `messages_fts_update` AFTER UPDATE OF content, status ON `messages` WHEN old.status <> 'streaming' OR new.status <> 'streaming' BEGIN
  INSERT INTO `messages_fts`(`messages_fts`, rowid, content) SELECT 'delete', old.rowid, old.content WHERE old.status <> 'streaming';
  INSERT INTO `messages_fts`(rowid, content) SELECT new.rowid, new.content WHERE new.status <> 'streaming';
END;
