package main

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// schemaVersion is the schema this binary reads and writes: migrate brings a
// database up to it, serve refuses an older one. A newer one is accepted, so
// that the previous release keeps running after a migration (each migration
// only adds).
const schemaVersion = 2

// lockTimeout bounds the wait for the database file's lock, which the other
// color may hold for the length of one transaction.
const lockTimeout = 5 * time.Second

var (
	bucketMeta  = []byte("meta")
	bucketNotes = []byte("notes")
	keySchema   = []byte("schema")
	keyCount    = []byte("count")
)

var (
	// errNoDatabase: the database file does not exist yet (run migrate).
	errNoDatabase = errors.New("no database")
	// errSchemaTooOld: the database's schema is older than schemaVersion.
	errSchemaTooOld = errors.New("database schema too old")
	// errNotFound: no note has that id.
	errNotFound = errors.New("note not found")
)

// migrations[i] takes a database from schema i to schema i+1. Each only adds
// (buckets, keys), so an older binary still reads the result.
var migrations = []struct {
	name string
	up   func(tx *bolt.Tx) error
}{
	{"create the meta and notes buckets", func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketMeta, bucketNotes} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return fmt.Errorf("create bucket %s: %w", b, err)
			}
		}
		return nil
	}},
	{"count the notes into meta/count", func(tx *bolt.Tx) error {
		n := tx.Bucket(bucketNotes).Stats().KeyN
		return tx.Bucket(bucketMeta).Put(keyCount, []byte(strconv.Itoa(n)))
	}},
}

// store is the notes database: one bbolt file on the data volume. Both
// colors mount the same volume during a release and bbolt allows one
// process at a time, so each request opens the file, runs one transaction
// and closes it: the file lock (shared for reads, exclusive for writes)
// takes turns between the two containers instead of the first one holding
// it for its lifetime. mu does the same within the process, so that its own
// requests do not wait on each other through the lock's polling.
type store struct {
	path string
	mu   sync.RWMutex
}

// open opens the existing database file, read-only or not.
func (s *store) open(readOnly bool) (*bolt.DB, error) {
	if _, err := os.Stat(s.path); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("open database %s: %w", s.path, errNoDatabase)
	}
	db, err := bolt.Open(s.path, 0o600, &bolt.Options{ReadOnly: readOnly, Timeout: lockTimeout})
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", s.path, err)
	}
	return db, nil
}

// view runs fn in a read-only transaction.
func (s *store) view(fn func(tx *bolt.Tx) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	db, err := s.open(true)
	if err != nil {
		return err
	}
	return errors.Join(db.View(fn), db.Close())
}

// update runs fn in a read-write transaction.
func (s *store) update(fn func(tx *bolt.Tx) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	db, err := s.open(false)
	if err != nil {
		return err
	}
	return errors.Join(db.Update(fn), db.Close())
}

// readSchema is the schema version recorded in tx (0: none yet).
func readSchema(tx *bolt.Tx) (int, error) {
	b := tx.Bucket(bucketMeta)
	if b == nil {
		return 0, nil
	}
	v := b.Get(keySchema)
	if v == nil {
		return 0, nil
	}
	n, err := strconv.Atoi(string(v))
	if err != nil {
		return 0, fmt.Errorf("read schema version %q: %w", v, err)
	}
	return n, nil
}

// checkSchema returns errSchemaTooOld, with the versions, when the database
// is older than this binary; errNoDatabase when there is none.
func (s *store) checkSchema() (int, error) {
	var v int
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		v, err = readSchema(tx)
		return err
	})
	if err != nil {
		return 0, err
	}
	if v < schemaVersion {
		return v, fmt.Errorf("%w: %s has schema %d, this binary needs %d", errSchemaTooOld, s.path, v, schemaVersion)
	}
	return v, nil
}

// migrate creates the database when missing and runs the migrations from
// its schema up to target, all in one transaction. A schema at or past
// target is left alone. It returns the schema found and the one left.
func (s *store) migrate(target int) (from, to int, err error) {
	if target < 0 || target > len(migrations) {
		return 0, 0, fmt.Errorf("migrate to schema %d: this binary knows schemas 0 to %d", target, len(migrations))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	db, err := bolt.Open(s.path, 0o600, &bolt.Options{Timeout: lockTimeout})
	if err != nil {
		return 0, 0, fmt.Errorf("open database %s: %w", s.path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		from, err = readSchema(tx)
		if err != nil {
			return err
		}
		to = from
		for ; to < target; to++ {
			if err := migrations[to].up(tx); err != nil {
				return fmt.Errorf("migrate schema %d to %d (%s): %w", to, to+1, migrations[to].name, err)
			}
		}
		if to == from {
			return nil
		}
		return tx.Bucket(bucketMeta).Put(keySchema, []byte(strconv.Itoa(to)))
	})
	return from, to, errors.Join(err, db.Close())
}

// note is one stored note, as stored and as served (with its signature).
type note struct {
	ID      uint64    `json:"id"`
	Text    string    `json:"text"`
	Created time.Time `json:"created"`
	Color   string    `json:"color"`   // the color that stored it
	Version string    `json:"version"` // the release that stored it
	Host    string    `json:"host"`    // the container that stored it
	Sig     string    `json:"sig,omitempty"`
}

func noteKey(id uint64) []byte {
	return binary.BigEndian.AppendUint64(nil, id)
}

// buckets returns the notes and meta buckets, or an error naming the
// missing one (a database that migrate never finished).
func buckets(tx *bolt.Tx) (notes, meta *bolt.Bucket, err error) {
	notes, meta = tx.Bucket(bucketNotes), tx.Bucket(bucketMeta)
	if notes == nil || meta == nil {
		return nil, nil, fmt.Errorf("%w: bucket %s or %s missing", errSchemaTooOld, bucketNotes, bucketMeta)
	}
	return notes, meta, nil
}

// add stores n under the next id and returns it with its id set.
func (s *store) add(n note) (note, error) {
	err := s.update(func(tx *bolt.Tx) error {
		notes, meta, err := buckets(tx)
		if err != nil {
			return err
		}
		if n.ID, err = notes.NextSequence(); err != nil {
			return err
		}
		b, err := json.Marshal(n)
		if err != nil {
			return err
		}
		if err := notes.Put(noteKey(n.ID), b); err != nil {
			return err
		}
		count, _ := strconv.Atoi(string(meta.Get(keyCount)))
		return meta.Put(keyCount, []byte(strconv.Itoa(count+1)))
	})
	if err != nil {
		return note{}, fmt.Errorf("add note: %w", err)
	}
	return n, nil
}

// get returns the note with id, or errNotFound.
func (s *store) get(id uint64) (note, error) {
	var n note
	err := s.view(func(tx *bolt.Tx) error {
		notes, _, err := buckets(tx)
		if err != nil {
			return err
		}
		b := notes.Get(noteKey(id))
		if b == nil {
			return errNotFound
		}
		return json.Unmarshal(b, &n)
	})
	if err != nil {
		return note{}, fmt.Errorf("get note %d: %w", id, err)
	}
	return n, nil
}

// list returns up to limit notes, oldest first.
func (s *store) list(limit int) ([]note, error) {
	out := []note{}
	err := s.view(func(tx *bolt.Tx) error {
		notes, _, err := buckets(tx)
		if err != nil {
			return err
		}
		c := notes.Cursor()
		for k, v := c.First(); k != nil && len(out) < limit; k, v = c.Next() {
			var n note
			if err := json.Unmarshal(v, &n); err != nil {
				return fmt.Errorf("decode note %x: %w", k, err)
			}
			out = append(out, n)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list notes: %w", err)
	}
	return out, nil
}

// count is the number of notes (meta/count, kept by add).
func (s *store) count() (int, error) {
	var n int
	err := s.view(func(tx *bolt.Tx) error {
		_, meta, err := buckets(tx)
		if err != nil {
			return err
		}
		n, err = strconv.Atoi(string(meta.Get(keyCount)))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("count notes: %w", err)
	}
	return n, nil
}
