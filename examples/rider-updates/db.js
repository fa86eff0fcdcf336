'use strict'

// The database the updates end up in: one row per update, keyed by where it sits in the
// log, so a batch replayed after a crash inserts nothing twice; plus each rider's newest
// position by timestamp (updates can arrive out of order when a rider changes region).
// Several processes may write one file (the server in cluster mode): WAL lets readers go on
// beside the one writer, and the busy timeout makes a writer wait its turn for the lock
// rather than fail with SQLITE_BUSY.

const Database = require('better-sqlite3')

const BUSY_TIMEOUT_MS = 10_000

function openDatabase(file) {
  const db = new Database(file, { timeout: BUSY_TIMEOUT_MS })
  db.pragma('journal_mode = WAL')
  db.exec(`
    CREATE TABLE IF NOT EXISTS rider_updates (
      topic TEXT NOT NULL, partition INTEGER NOT NULL, offset INTEGER NOT NULL,
      rider_id TEXT NOT NULL, lat REAL NOT NULL, lng REAL NOT NULL, region TEXT NOT NULL, ts INTEGER NOT NULL,
      PRIMARY KEY (topic, partition, offset)
    );
    CREATE TABLE IF NOT EXISTS riders (
      rider_id TEXT PRIMARY KEY, lat REAL NOT NULL, lng REAL NOT NULL, region TEXT NOT NULL, ts INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS restaurant_status (
      topic TEXT NOT NULL, partition INTEGER NOT NULL, offset INTEGER NOT NULL,
      restaurant_id TEXT NOT NULL, status TEXT NOT NULL, ts INTEGER NOT NULL,
      PRIMARY KEY (topic, partition, offset)
    );
    CREATE TABLE IF NOT EXISTS direct_updates (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      rider_id TEXT NOT NULL, lat REAL NOT NULL, lng REAL NOT NULL, region TEXT NOT NULL, ts INTEGER NOT NULL
    );
  `)
  const insertUpdate = db.prepare(
    'INSERT OR IGNORE INTO rider_updates (topic, partition, offset, rider_id, lat, lng, region, ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?)'
  )
  const upsertRider = db.prepare(`
    INSERT INTO riders (rider_id, lat, lng, region, ts) VALUES (?, ?, ?, ?, ?)
    ON CONFLICT (rider_id) DO UPDATE SET lat = excluded.lat, lng = excluded.lng, region = excluded.region, ts = excluded.ts
    WHERE excluded.ts >= riders.ts`)
  const insertStatus = db.prepare(
    'INSERT OR IGNORE INTO restaurant_status (topic, partition, offset, restaurant_id, status, ts) VALUES (?, ?, ?, ?, ?, ?)'
  )
  const insertDirect = db.prepare('INSERT INTO direct_updates (rider_id, lat, lng, region, ts) VALUES (?, ?, ?, ?, ?)')
  const countUpdates = db.prepare('SELECT COUNT(*) AS n FROM rider_updates')
  const countDirect = db.prepare('SELECT COUNT(*) AS n FROM direct_updates')

  /** One transaction per consumed batch. */
  const writeRiderBatch = db.transaction((topic, partition, rows) => {
    for (const r of rows) {
      insertUpdate.run(topic, partition, r.offset, r.riderId, r.lat, r.lng, r.region, r.ts)
      upsertRider.run(r.riderId, r.lat, r.lng, r.region, r.ts)
    }
  })
  const writeStatusBatch = db.transaction((topic, partition, rows) => {
    for (const r of rows) insertStatus.run(topic, partition, r.offset, r.restaurantId, r.status, r.ts)
  })

  return {
    db,
    writeRiderBatch,
    writeStatusBatch,
    insertDirect: (u) => insertDirect.run(u.riderId, u.lat, u.lng, u.region, u.ts),
    rowCount: () => countUpdates.get().n + countDirect.get().n,
    setSynchronous: (mode) => db.pragma(`synchronous = ${mode}`),
    close: () => db.close(),
  }
}

module.exports = { openDatabase }
