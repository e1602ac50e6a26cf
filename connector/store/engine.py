"""Opening the store: one engine per URL, the dialect quirks settled here and nowhere else."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlmodel import Session

from connector.errors import ConfigError, StoreError, describe


def normalise_url(url: str) -> str:
    """``postgresql://`` means psycopg 3 here (the only PostgreSQL driver installed)."""
    try:
        parsed = make_url(url)
    except sa.exc.ArgumentError as exc:
        raise ConfigError("not a database URL", path="store.url",
                          hint="e.g. sqlite:///connector.db or postgresql://user@host/db") from exc
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigError(f"unsupported database {parsed.get_backend_name()!r}", path="store.url",
                          hint="use sqlite:///PATH or postgresql://USER@HOST/DB")
    return parsed.render_as_string(hide_password=False)


def _sqlite_connect(dbapi_conn, _record) -> None:
    # pysqlite opens transactions lazily and lets SAVEPOINT start (and RELEASE commit) one on its own, which
    # silently commits half a unit of work. Take transaction control away from it; _sqlite_begin opens them.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")  # several processes (CLI + daemon) share one file
    cur.execute("PRAGMA journal_mode=WAL")
    cur.close()


def _sqlite_begin(conn: sa.Connection) -> None:
    # IMMEDIATE takes the write lock up front: a deferred transaction that reads and then writes fails with
    # "database is locked" when another process wrote in between, instead of waiting for busy_timeout.
    # A read-only unit of work (Store.reading) needs no lock: WAL lets it read beside a writer.
    readonly = conn.get_execution_options().get("connector_readonly", False)
    conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")


def make_engine(url: str, connections: int = 5) -> sa.Engine:
    """``connections``: how many a PostgreSQL pool keeps open (as many as threads that write at once; a burst may
    open a few more). SQLite has one writer at a time whatever the pool holds."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"check_same_thread": False})
        sa.event.listen(engine, "connect", _sqlite_connect)
        sa.event.listen(engine, "begin", _sqlite_begin)
    else:
        engine = sa.create_engine(url, pool_pre_ping=True, pool_size=connections, max_overflow=5)
    return engine


def insert_unless_present(session: Session, table: sa.Table, values: dict, keys: list[str]) -> None:
    """``INSERT … ON CONFLICT (keys) DO NOTHING`` on either database: for rows two writers may both add (the same
    payload version read by a pull and by a push's read-back), where a look first and an insert after would race."""
    dialect = session.get_bind().dialect.name
    insert = sqlite_insert if dialect == "sqlite" else postgresql_insert
    session.execute(insert(table).values(**values).on_conflict_do_nothing(index_elements=keys))


def returning_is_cheap(session: Session) -> bool:
    """Whether a many-row ``INSERT … RETURNING`` is the cheap way to learn new rows' ids. SQLite: yes. PostgreSQL:
    no, psycopg parses a statement that long anew each time in Python (it caches short ones only); an executemany of
    the one short INSERT and a look-up of the ids cost a quarter less (bench/README.md)."""
    return session.get_bind().dialect.name == "sqlite"


class Store:
    """The store as the rest of the program sees it: an engine and a way to run one transaction."""

    def __init__(self, url: str, *, connections: int = 5) -> None:
        self.url = normalise_url(url)
        self.engine = make_engine(self.url, connections)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: everything inside commits together or not at all."""
        with Session(self.engine, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except sa.exc.OperationalError as exc:
                session.rollback()
                # describe(): the driver's first line; the full text would carry the statement's parameters
                raise StoreError(f"the store at {self.safe_url} failed: {describe(exc)}",
                                 hint="check that the database is running and store.url is right") from exc
            except BaseException:
                session.rollback()
                raise

    def ping(self) -> None:
        """Open a connection now, so that a store that cannot be reached fails here in one sentence, not with
        a driver's traceback (and the statement and its parameters) in the middle of a command."""
        try:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
        except sa.exc.SQLAlchemyError as exc:
            raise self.unreachable(exc) from None

    def unreachable(self, exc: BaseException) -> StoreError:
        """The error for a store that cannot be opened: the driver's own first line, and what to check."""
        hint = "check that the database is running and that store.url is right"
        database = make_url(self.url).database
        if self.dialect == "sqlite" and database and database != ":memory:":
            folder = Path(database).expanduser().resolve().parent
            if not folder.is_dir():
                hint = f"the directory {folder} does not exist: create it, or point store.url at another file"
            else:
                hint = f"check that {folder} is writable by this user and that store.url is right"
        return StoreError(f"cannot open the store at {self.safe_url}: {describe(exc)}", hint=hint)

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A unit of work that only reads: on SQLite it does not wait for (or hold up) the daemon's writes."""
        # Closing (not committing) ends the transaction; the objects read stay usable after the block.
        with Session(self.engine.execution_options(connector_readonly=True), expire_on_commit=False) as session:
            yield session

    @property
    def safe_url(self) -> str:
        return make_url(self.url).render_as_string(hide_password=True)

    def dispose(self) -> None:
        self.engine.dispose()
