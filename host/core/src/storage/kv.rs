//! The plugins' key-value stores: one namespace per plugin id.

use super::{Storage, StorageError};

impl Storage {
    /// The value of `key` in `plugin`'s store.
    pub async fn kv_get(&self, plugin: &str, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let row: Option<(Vec<u8>,)> =
            sqlx::query_as("SELECT value FROM plugin_kv WHERE plugin = ? AND key = ?")
                .bind(plugin)
                .bind(key)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(v,)| v))
    }

    /// Sets `key` in `plugin`'s store.
    pub async fn kv_set(&self, plugin: &str, key: &str, value: &[u8]) -> Result<(), StorageError> {
        sqlx::query(
            "INSERT INTO plugin_kv (plugin, key, value) VALUES (?, ?, ?) \
             ON CONFLICT (plugin, key) DO UPDATE SET value = excluded.value",
        )
        .bind(plugin)
        .bind(key)
        .bind(value)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Removes `key` from `plugin`'s store.
    pub async fn kv_delete(&self, plugin: &str, key: &str) -> Result<(), StorageError> {
        sqlx::query("DELETE FROM plugin_kv WHERE plugin = ? AND key = ?")
            .bind(plugin)
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Keys of `plugin`'s store starting with `prefix`, sorted, at most `limit`.
    pub async fn kv_keys(
        &self,
        plugin: &str,
        prefix: &str,
        limit: u32,
    ) -> Result<Vec<String>, StorageError> {
        // Range scan instead of LIKE, so `%` and `_` in a prefix mean themselves.
        let rows: Vec<(String,)> = if prefix.is_empty() {
            sqlx::query_as("SELECT key FROM plugin_kv WHERE plugin = ? ORDER BY key LIMIT ?")
                .bind(plugin)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
        } else {
            sqlx::query_as("SELECT key FROM plugin_kv WHERE plugin = ? AND key >= ? AND substr(key, 1, length(?)) = ? ORDER BY key LIMIT ?")
                .bind(plugin)
                .bind(prefix)
                .bind(prefix)
                .bind(prefix)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
        };
        Ok(rows.into_iter().map(|(k,)| k).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn namespaces_are_private_and_prefixes_literal() {
        let dir = tempfile::tempdir().unwrap();
        let db = Storage::open_sqlite(&dir.path().join("t.db"))
            .await
            .unwrap();
        db.kv_set("a", "k%1", b"one").await.unwrap();
        db.kv_set("a", "k_2", b"two").await.unwrap();
        db.kv_set("b", "k%1", b"other").await.unwrap();
        assert_eq!(
            db.kv_get("a", "k%1").await.unwrap().as_deref(),
            Some(&b"one"[..])
        );
        assert_eq!(
            db.kv_get("b", "k%1").await.unwrap().as_deref(),
            Some(&b"other"[..])
        );
        assert_eq!(db.kv_keys("a", "k%", 10).await.unwrap(), vec!["k%1"]);
        assert_eq!(db.kv_keys("a", "", 10).await.unwrap().len(), 2);
        db.kv_delete("a", "k%1").await.unwrap();
        assert_eq!(db.kv_get("a", "k%1").await.unwrap(), None);
    }
}
