package main

import (
	"errors"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func newStore(t *testing.T, schema int) *store {
	t.Helper()
	st := &store{path: filepath.Join(t.TempDir(), "notes.db")}
	if _, _, err := st.migrate(schema); err != nil {
		t.Fatal(err)
	}
	return st
}

// TestMigrateUpgrades: a database at schema 1 that already holds notes is
// taken to schema 2, whose migration counts them.
func TestMigrateUpgrades(t *testing.T) {
	st := newStore(t, 1)
	if v, err := st.checkSchema(); !errors.Is(err, errSchemaTooOld) || v != 1 {
		t.Fatalf("checkSchema at 1 = %d, %v; want 1, errSchemaTooOld", v, err)
	}
	// Two notes written the way schema 1 knew: no count kept.
	if err := st.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketNotes)
		for id := uint64(1); id <= 2; id++ {
			if err := b.Put(noteKey(id), []byte(`{"id":`+strconv.FormatUint(id, 10)+`,"text":"old"}`)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	from, to, err := st.migrate(schemaVersion)
	if err != nil || from != 1 || to != 2 {
		t.Fatalf("migrate = %d, %d, %v; want 1, 2", from, to, err)
	}
	if v, err := st.checkSchema(); err != nil || v != 2 {
		t.Fatalf("checkSchema = %d, %v; want 2", v, err)
	}
	if n, err := st.count(); err != nil || n != 2 {
		t.Errorf("count after the migration = %d, %v; want 2", n, err)
	}
}

// TestNewerSchemaAccepted: a database a later release migrated further is
// served and left alone by migrate (the previous release keeps running
// after a migration, and a rollback finds it so).
func TestNewerSchemaAccepted(t *testing.T) {
	st := newStore(t, schemaVersion)
	if err := st.update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keySchema, []byte("3"))
	}); err != nil {
		t.Fatal(err)
	}
	if v, err := st.checkSchema(); err != nil || v != 3 {
		t.Errorf("checkSchema = %d, %v; want 3, nil", v, err)
	}
	if from, to, err := st.migrate(schemaVersion); err != nil || from != 3 || to != 3 {
		t.Errorf("migrate = %d, %d, %v; want 3, 3 and nothing done", from, to, err)
	}
	if _, _, err := st.migrate(len(migrations) + 1); err == nil {
		t.Errorf("migrate to a schema this binary does not know: no error")
	}
}

func TestStoreRoundTrip(t *testing.T) {
	st := newStore(t, schemaVersion)
	created := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	for i, text := range []string{"first", "second", "third"} {
		n, err := st.add(note{Text: text, Created: created, Color: "blue", Version: "v1", Host: "h"})
		if err != nil || n.ID != uint64(i+1) {
			t.Fatalf("add %q = %+v, %v; want id %d", text, n, err, i+1)
		}
	}
	n, err := st.get(2)
	if err != nil || n.Text != "second" || !n.Created.Equal(created) || n.Color != "blue" {
		t.Errorf("get 2 = %+v, %v", n, err)
	}
	if _, err := st.get(9); !errors.Is(err, errNotFound) {
		t.Errorf("get 9: %v, want errNotFound", err)
	}
	all, err := st.list(2)
	if err != nil || len(all) != 2 || all[0].Text != "first" || all[1].Text != "second" {
		t.Errorf("list 2 = %+v, %v; want the first two", all, err)
	}
	if c, err := st.count(); err != nil || c != 3 {
		t.Errorf("count = %d, %v; want 3", c, err)
	}
}

// TestTwoStoresShareTheFile: two stores on one file, as the two colors on
// one volume during a release, write at the same time; bbolt's file lock
// makes them take turns and no note is lost.
func TestTwoStoresShareTheFile(t *testing.T) {
	blue := newStore(t, schemaVersion)
	green := &store{path: blue.path}
	const each = 20
	var wg sync.WaitGroup
	errs := make(chan error, 2*each)
	for _, st := range []*store{blue, green} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				if _, err := st.add(note{Text: "x"}); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	all, err := green.list(maxLimit)
	if err != nil || len(all) != 2*each {
		t.Fatalf("list = %d notes, %v; want %d", len(all), err, 2*each)
	}
	for i, n := range all {
		if n.ID != uint64(i+1) {
			t.Fatalf("note %d has id %d: ids not 1..%d", i, n.ID, 2*each)
		}
	}
	if c, err := blue.count(); err != nil || c != 2*each {
		t.Errorf("count = %d, %v; want %d", c, err, 2*each)
	}
}
