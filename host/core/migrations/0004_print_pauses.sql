-- Every pause of a print attempt: when, by whom and why, and when it resumed, so the history
-- tells a failure-detection pause from an operator's coffee break.
-- paused_by: `user:<name>` (host API), `plugin:<id>` (a plugin), or `printer` (the firmware
-- asked with //action:pause). resumed_ms is NULL while the print is paused, and stays NULL for a
-- print that ended paused (cancelled, or the server stopped). At most one pause per print is
-- open (resumed_ms NULL) at a time; the storage layer keeps it so.
CREATE TABLE print_pauses (
    id          INTEGER PRIMARY KEY,
    print_id    INTEGER NOT NULL REFERENCES prints (id) ON DELETE CASCADE,
    paused_ms   BIGINT NOT NULL,
    resumed_ms  BIGINT,
    paused_by   TEXT NOT NULL,
    reason      TEXT
);
CREATE INDEX print_pauses_print ON print_pauses (print_id, paused_ms);
