"""The schema's numbering: a database of an earlier relief takes the later steps only, on both stores."""

from __future__ import annotations

from relief_cli.store import MIGRATIONS, PG_SETUP, PG_SETUP_AFTER, Store, schema_steps


def _indexes(store: Store) -> set[str]:
    if store.pg:
        return {r[0] for r in store.conn.execute_native("SELECT indexname FROM pg_indexes WHERE tablename = 'alerts'")}
    return {r[0] for r in store.conn.execute("SELECT name FROM sqlite_master WHERE tbl_name = 'alerts' AND type = 'index'")}


def _set_version(store: Store, number: int) -> None:
    with store.transaction():
        store._set_version(number)


def test_server_setup_keeps_its_number_between_the_migrations():
    lite, server = schema_steps(False), schema_steps(True)
    assert [script for script, _ in lite] == list(MIGRATIONS)
    assert len(server) == len(MIGRATIONS) + len(PG_SETUP)
    # Step 8 was the server's setup when server mode came (7 migrations then): it stays step 8.
    assert PG_SETUP_AFTER == 7 and server[7] == (PG_SETUP[0], True)
    assert server[:7] == lite[:7] and server[8:] == lite[7:]


def test_a_database_of_the_previous_relief_gains_the_listing_indexes(db, config):
    store = Store(db, config)
    assert {"alerts_open", "alerts_raised"} <= _indexes(store)
    # As the relief before these indexes left a database: 7 migrations, and on a server its setup as step 8.
    store.conn.execute("DROP INDEX alerts_open")
    store.conn.execute("DROP INDEX alerts_raised")
    _set_version(store, PG_SETUP_AFTER + (len(PG_SETUP) if store.pg else 0))
    store.close()
    again = Store(db, config)
    try:
        assert {"alerts_open", "alerts_raised"} <= _indexes(again)
        assert again._version() == len(schema_steps(again.pg))
        if again.pg:  # the setup was not run twice (its triggers exist once)
            triggers = again.conn.execute_native(
                "SELECT count(*) FROM pg_trigger WHERE tgname = 'relief_log' AND tgrelid = 'alerts'::regclass").fetchone()[0]
            assert triggers == 1
    finally:
        again.close()
