enum _PlaceholderEmbeddedPostgres {}
