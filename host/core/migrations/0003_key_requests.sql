-- Applications' requests for API keys (OctoPrint's app-keys workflow), decided by admins.
-- The application holds the token; only its SHA-256 is stored. No key is stored: it is created
-- when the application collects an approved request.
CREATE TABLE key_requests (
    id             INTEGER PRIMARY KEY,
    token_hash     TEXT NOT NULL UNIQUE,
    app            TEXT NOT NULL,
    user_name      TEXT,
    client         TEXT NOT NULL,
    plugin         TEXT NOT NULL,
    created_ms     BIGINT NOT NULL,
    expires_ms     BIGINT NOT NULL,
    approved_user  TEXT,
    decided_by     TEXT
);
