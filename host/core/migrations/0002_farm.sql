-- Farm identities, the G-code library, the job queue and print history.
-- Timestamps are milliseconds since the Unix epoch (UTC). Booleans are 0/1 integers.

-- Users: one identity for every surface (host API, OctoPrint keys, Pod Manager sessions).
CREATE TABLE users (
    name          TEXT PRIMARY KEY,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
    password_hash TEXT,
    created_ms    BIGINT NOT NULL
);

-- API keys, stored as SHA-256 of the key (keys are 190-bit random strings, so a fast hash is safe).
CREATE TABLE api_keys (
    id           INTEGER PRIMARY KEY,
    user_name    TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    label        TEXT NOT NULL,
    key_hash     TEXT NOT NULL UNIQUE,
    created_ms   BIGINT NOT NULL
);

-- Browser sessions, stored as SHA-256 of the token.
CREATE TABLE sessions (
    token_hash  TEXT PRIMARY KEY,
    user_name   TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    created_ms  BIGINT NOT NULL,
    expires_ms  BIGINT NOT NULL
);

-- The library: files and folders by path; a file's bytes are the blob `blob` under the library dir.
CREATE TABLE library_entries (
    path         TEXT PRIMARY KEY,
    parent       TEXT NOT NULL,
    is_folder    INTEGER NOT NULL,
    size         BIGINT NOT NULL,
    sha256       TEXT,
    blob         TEXT UNIQUE,
    modified_ms  BIGINT NOT NULL,
    analysis     TEXT,
    analysis_error TEXT
);
CREATE INDEX library_entries_parent ON library_entries (parent);

-- Thumbnails a slicer embedded in a file, decoded.
CREATE TABLE library_thumbnails (
    blob    TEXT NOT NULL,
    idx     INTEGER NOT NULL,
    width   INTEGER NOT NULL,
    height  INTEGER NOT NULL,
    format  TEXT NOT NULL,
    data    BLOB NOT NULL,
    PRIMARY KEY (blob, idx)
);

-- Jobs: a file, copies, a priority and a placement (JSON lists of printer ids and tags).
CREATE TABLE jobs (
    id          INTEGER PRIMARY KEY,
    file_path   TEXT NOT NULL,
    blob        TEXT NOT NULL,
    file_size   BIGINT NOT NULL,
    copies      INTEGER NOT NULL,
    priority    INTEGER NOT NULL,
    printers    TEXT NOT NULL,
    tags        TEXT NOT NULL,
    created_by  TEXT,
    created_ms  BIGINT NOT NULL
);
CREATE INDEX jobs_blob ON jobs (blob);

-- One task per copy. state: queued, printing, done, failed, cancelled, interrupted.
-- `priority` copies the job's, so that the claim order is one index scan.
CREATE TABLE tasks (
    id           INTEGER PRIMARY KEY,
    job_id       INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    copy         INTEGER NOT NULL,
    priority     INTEGER NOT NULL,
    state        TEXT NOT NULL,
    printer      TEXT,
    started_ms   BIGINT,
    finished_ms  BIGINT,
    reason       TEXT,
    needs_decision INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX tasks_claim ON tasks (state, priority DESC, job_id, copy);
CREATE INDEX tasks_job ON tasks (job_id);
CREATE INDEX tasks_printer ON tasks (printer, state);

-- Every print attempt of a task: the history. outcome: printing, done, failed, cancelled, interrupted.
CREATE TABLE prints (
    id              INTEGER PRIMARY KEY,
    task_id         INTEGER NOT NULL,
    job_id          INTEGER NOT NULL,
    copy            INTEGER NOT NULL,
    printer         TEXT NOT NULL,
    file_path       TEXT NOT NULL,
    started_ms      BIGINT NOT NULL,
    finished_ms     BIGINT,
    outcome         TEXT NOT NULL,
    reason          TEXT,
    last_line       BIGINT NOT NULL DEFAULT 0,
    file_pos        BIGINT NOT NULL DEFAULT 0,
    file_size       BIGINT NOT NULL DEFAULT 0,
    lines_acked     BIGINT NOT NULL DEFAULT 0,
    resends         BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX prints_printer ON prints (printer, started_ms);
CREATE INDEX prints_file ON prints (file_path, started_ms);
CREATE INDEX prints_outcome ON prints (outcome);

-- Whether each printer's bed is confirmed clear.
CREATE TABLE printer_beds (
    printer     TEXT PRIMARY KEY,
    clear       INTEGER NOT NULL,
    changed_ms  BIGINT NOT NULL
);

-- Small farm-wide settings (the queue's paused flag).
CREATE TABLE farm_settings (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
