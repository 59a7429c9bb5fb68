"""Redis: key schema, feature store, decided-txn store, model store."""
