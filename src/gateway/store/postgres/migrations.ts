/**
 * Versioned schema migrations of the PostgreSQL store. Each one runs once, in its own
 * transaction, recorded in `schema_migrations`; `migrate()` runs the pending ones at open while it
 * holds a session advisory lock, so several gateway instances starting at once apply each
 * migration exactly once. The SQL lives here as strings rather than .sql files because `tsc`
 * does not copy non-TypeScript files into dist/. Never edit a released migration: add the next.
 */
import type pg from 'pg';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** Session advisory lock key (two-int form, so it never meets the single-bigint keys of resource locks). */
export const MIGRATION_LOCK: readonly [number, number] = [0x5c1b, 1];

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'resources, membership, tombstones, outbox with leases, links, audit chain',
    sql: `
CREATE SEQUENCE scim_resource_ord;
CREATE SEQUENCE scim_member_pos;
CREATE SEQUENCE scim_outbox_seq;
CREATE SEQUENCE scim_commit_seq;

-- Users and groups: SCIM JSON (without id, meta, schemas and members) plus the keys IdPs look
-- up by. The keys are computed by the gateway (JavaScript case folding, exactly as the embedded
-- store folds them), so uniqueness means the same thing whatever the database's collation.
CREATE TABLE scim_resources (
  connection       text    NOT NULL,
  id               text    NOT NULL,
  type             text    NOT NULL CHECK (type IN ('User', 'Group')),
  ord              bigint  NOT NULL DEFAULT nextval('scim_resource_ord'),
  data             jsonb   NOT NULL,
  version          integer NOT NULL,
  created          text    NOT NULL,
  last_modified    text    NOT NULL,
  member_count     integer,
  user_name_key    text,
  external_id      text,
  display_name_key text,
  email_keys       text[]  NOT NULL DEFAULT '{}',
  PRIMARY KEY (connection, id)
);
CREATE INDEX scim_resources_paging ON scim_resources (connection, type, ord);
CREATE UNIQUE INDEX scim_resources_user_name ON scim_resources (connection, user_name_key) WHERE type = 'User' AND user_name_key IS NOT NULL;
CREATE UNIQUE INDEX scim_resources_user_external_id ON scim_resources (connection, external_id) WHERE type = 'User' AND external_id IS NOT NULL;
CREATE INDEX scim_resources_group_external_id ON scim_resources (connection, external_id) WHERE type = 'Group' AND external_id IS NOT NULL;
CREATE UNIQUE INDEX scim_resources_display_name ON scim_resources (connection, display_name_key) WHERE type = 'Group' AND display_name_key IS NOT NULL;
CREATE INDEX scim_resources_emails ON scim_resources USING gin (email_keys);

-- Membership as rows: adding or removing one member of a 50k-member group touches one row.
CREATE TABLE scim_members (
  connection  text   NOT NULL,
  group_id    text   NOT NULL,
  member_id   text   NOT NULL,
  member_type text   NOT NULL CHECK (member_type IN ('User', 'Group')),
  display     text,
  pos         bigint NOT NULL DEFAULT nextval('scim_member_pos'),
  PRIMARY KEY (connection, group_id, member_id),
  FOREIGN KEY (connection, group_id) REFERENCES scim_resources (connection, id) ON DELETE CASCADE,
  FOREIGN KEY (connection, member_id) REFERENCES scim_resources (connection, id) ON DELETE CASCADE
);
CREATE INDEX scim_members_order ON scim_members (connection, group_id, pos);
CREATE INDEX scim_members_reverse ON scim_members (connection, member_id);

-- Soft-deleted resources: out of every index above, listed by Store.deleted().
CREATE TABLE scim_tombstones (
  connection    text    NOT NULL,
  id            text    NOT NULL,
  type          text    NOT NULL,
  ord           bigint  NOT NULL DEFAULT nextval('scim_resource_ord'),
  data          jsonb   NOT NULL,
  version       integer NOT NULL,
  created       text    NOT NULL,
  last_modified text    NOT NULL,
  member_count  integer,
  PRIMARY KEY (connection, id)
);

-- Connector operations. seq is commit order per resource (commits of one resource take its
-- advisory lock before they draw a seq). A lease (owner instance + expiry) marks an entry one
-- instance is delivering; an expired lease is free again.
CREATE TABLE scim_outbox (
  id              text    PRIMARY KEY,
  seq             bigint  NOT NULL DEFAULT nextval('scim_outbox_seq'),
  connection      text    NOT NULL,
  connector       text    NOT NULL,
  resource_type   text    NOT NULL,
  resource_id     text    NOT NULL,
  kind            text    NOT NULL,
  payload         jsonb   NOT NULL,
  created_at      text    NOT NULL,
  attempts        integer NOT NULL,
  next_attempt_at text    NOT NULL,
  state           text    NOT NULL CHECK (state IN ('pending', 'dead')),
  last_error      text,
  claim_checked   boolean NOT NULL DEFAULT false,
  lease_owner     text,
  lease_until     timestamptz
);
CREATE UNIQUE INDEX scim_outbox_order ON scim_outbox (seq);
CREATE INDEX scim_outbox_heads ON scim_outbox (connector, resource_id, seq);
CREATE INDEX scim_outbox_lease ON scim_outbox (lease_owner) WHERE lease_owner IS NOT NULL;

-- Target keys per (connector, resource), and the reverse lookup for claim checks.
CREATE TABLE scim_links (
  connector   text   NOT NULL,
  resource_id text   NOT NULL,
  target_key  text   NOT NULL,
  key_lower   text   NOT NULL,
  linked_seq  bigint NOT NULL DEFAULT nextval('scim_commit_seq'),
  PRIMARY KEY (connector, resource_id)
);
CREATE INDEX scim_links_reverse ON scim_links (connector, key_lower, linked_seq);

-- The audit log: one hash chain for every instance, appended under a transaction advisory lock.
-- line is the record's canonical JSON, exactly what its hash covers; the other columns are copies
-- for queries.
CREATE TABLE scim_audit (
  seq           bigint PRIMARY KEY,
  time          text   NOT NULL,
  line          text   NOT NULL,
  hash          text   NOT NULL,
  store_seq     bigint,
  connection    text,
  action        text   NOT NULL,
  actor_kind    text   NOT NULL,
  actor_id      text   NOT NULL,
  resource_type text,
  resource_id   text,
  result        text   NOT NULL
);
CREATE INDEX scim_audit_time ON scim_audit (time);
CREATE INDEX scim_audit_actor ON scim_audit (actor_id, seq);
CREATE INDEX scim_audit_resource ON scim_audit (resource_id, seq);
-- Records of commits not yet chained: staged in the commit's transaction, chained soon after.
CREATE TABLE scim_audit_pending (
  id    bigserial PRIMARY KEY,
  draft jsonb     NOT NULL
);
-- The chain's head (seq and hash of the newest record). An append locks this row: appends from
-- every instance queue on it, and each reads the head its predecessor committed.
CREATE TABLE scim_audit_head (
  id   integer PRIMARY KEY CHECK (id = 1),
  seq  bigint  NOT NULL,
  hash text    NOT NULL
);
INSERT INTO scim_audit_head (id, seq, hash) VALUES (1, 0, repeat('0', 64));
-- Where the oldest kept record chains from once retention deleted older ones.
CREATE TABLE scim_audit_anchor (
  id         integer PRIMARY KEY CHECK (id = 1),
  seq        bigint  NOT NULL,
  hash       text    NOT NULL,
  updated_at text    NOT NULL
);

-- Filter helpers: the SCIM filter semantics of src/gateway/scim/filter/evaluate.ts, in SQL.
-- A value or, for a multi-valued one, each of its elements.
CREATE FUNCTION scim_elems(v jsonb) RETURNS SETOF jsonb LANGUAGE sql IMMUTABLE AS
$$ SELECT e FROM jsonb_array_elements(CASE WHEN jsonb_typeof(v) = 'array' THEN v ELSE jsonb_build_array(v) END) AS e $$;
-- Text of a string, number or boolean (what a string comparison sees); NULL otherwise.
CREATE FUNCTION scim_text(v jsonb) RETURNS text LANGUAGE sql IMMUTABLE AS
$$ SELECT CASE WHEN jsonb_typeof(v) IN ('string', 'number', 'boolean') THEN v #>> '{}' END $$;
-- A number, or a string holding one (Entra sends numbers as strings); NULL otherwise.
CREATE FUNCTION scim_num(v jsonb) RETURNS numeric LANGUAGE sql IMMUTABLE AS
$$ SELECT CASE
     WHEN jsonb_typeof(v) = 'number' THEN (v #>> '{}')::numeric
     WHEN jsonb_typeof(v) = 'string' AND (v #>> '{}') ~ '^\\s*[-+]?([0-9]+\\.?[0-9]*|\\.[0-9]+)([eE][-+]?[0-9]+)?\\s*$' THEN trim(v #>> '{}')::numeric
   END $$;
-- A boolean, or "true"/"false" in any case (Entra sends "True"); NULL otherwise.
CREATE FUNCTION scim_bool(v jsonb) RETURNS boolean LANGUAGE sql IMMUTABLE AS
$$ SELECT CASE
     WHEN jsonb_typeof(v) = 'boolean' THEN (v #>> '{}')::boolean
     WHEN jsonb_typeof(v) = 'string' AND lower(v #>> '{}') IN ('true', 'false') THEN lower(v #>> '{}')::boolean
   END $$;
-- An RFC 3339 date-time (without a zone: UTC); NULL for anything that is not one.
CREATE FUNCTION scim_time(v jsonb) RETURNS timestamptz LANGUAGE plpgsql IMMUTABLE AS
$$ DECLARE s text := CASE WHEN jsonb_typeof(v) = 'string' THEN v #>> '{}' END;
BEGIN
  IF s IS NULL OR s !~ '^\\d{4}-\\d{2}-\\d{2}([T ]\\d{2}:\\d{2}(:\\d{2}(\\.\\d+)?)?)?(Z|z|[+-]\\d{2}(:?\\d{2})?)?$' THEN RETURN NULL; END IF;
  IF s ~ '^\\d{4}-\\d{2}-\\d{2}([T ]\\d{2}:\\d{2}(:\\d{2}(\\.\\d+)?)?)?$' THEN s := s || 'Z'; END IF;
  RETURN s::timestamptz;
EXCEPTION WHEN others THEN
  RETURN NULL;
END $$;
-- RFC 7644 §3.4.2.2 pr: a non-empty value; "", [], {} and objects whose values are all empty are absent.
CREATE FUNCTION scim_present(v jsonb, depth integer DEFAULT 0) RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS
$$ DECLARE t text := jsonb_typeof(v); x jsonb;
BEGIN
  IF t IS NULL OR t = 'null' THEN RETURN false; END IF;
  IF t = 'string' THEN RETURN (v #>> '{}') <> ''; END IF;
  IF t NOT IN ('array', 'object') THEN RETURN true; END IF;
  IF depth >= 3 THEN RETURN true; END IF;
  IF t = 'array' THEN
    FOR x IN SELECT e FROM jsonb_array_elements(v) AS e LOOP
      IF scim_present(x, depth + 1) THEN RETURN true; END IF;
    END LOOP;
  ELSE
    FOR x IN SELECT e FROM jsonb_each(v) AS kv(k, e) LOOP
      IF scim_present(x, depth + 1) THEN RETURN true; END IF;
    END LOOP;
  END IF;
  RETURN false;
END $$;
`,
  },
  {
    version: 2,
    name: 'room on each page for in-place updates',
    // A PATCH rewrites a user's row; with free space on its page PostgreSQL updates it in place
    // (a heap-only tuple) and leaves the seven indexes alone when no indexed key changed. Applies
    // to pages written from now on (a VACUUM FULL rewrites the old ones).
    sql: `ALTER TABLE scim_resources SET (fillfactor = 85);`,
  },
];

/** Runs the pending migrations; returns the versions applied. Safe to call from many instances at once. */
export async function migrate(client: pg.ClientBase, migrations: readonly Migration[] = MIGRATIONS): Promise<number[]> {
  await client.query('SELECT pg_advisory_lock($1, $2)', [...MIGRATION_LOCK]);
  try {
    await client.query(
      'CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())',
    );
    const done = new Set((await client.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map((r) => r.version));
    const known = Math.max(0, ...migrations.map((m) => m.version));
    const newer = [...done].filter((v) => v > known);
    if (newer.length > 0) {
      throw new Error(
        `The database has schema version ${Math.max(...newer)}, newer than this gateway knows (${known}): a newer gateway migrated it. Upgrade this instance; do not run old and new versions on one database.`,
      );
    }
    const applied: number[] = [];
    for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
      if (done.has(m.version)) continue;
      await client.query('BEGIN');
      try {
        await client.query(m.sql);
        await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw new Error(`Schema migration ${m.version} (${m.name}) failed: ${(err as Error).message}`);
      }
      applied.push(m.version);
    }
    return applied;
  } finally {
    await client.query('SELECT pg_advisory_unlock($1, $2)', [...MIGRATION_LOCK]).catch(() => undefined);
  }
}
