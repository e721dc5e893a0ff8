-- A clip the bot could not post in the channel goes to the member by direct message;
-- the status message then says so and links the DM, which needs the DM channel's id.
ALTER TABLE jobs ADD COLUMN result_dm_channel_id INTEGER;
