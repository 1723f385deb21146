package haproxy

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/bluegreen-host/controller/pkg/haproxy/names"
)

// MapEntry is one key and its value in a map.
type MapEntry struct{ Key, Value string }

// ShowMap lists the entries of the runtime map loaded from mapPath, in
// order. mapPath must be the exact path written in haproxy.cfg.
func (c *Client) ShowMap(ctx context.Context, mapPath string) ([]MapEntry, error) {
	if err := names.ValidateMapPath(mapPath); err != nil {
		return nil, fmt.Errorf("show map on %s: %w", c.addr, err)
	}
	answer, err := c.Exec(ctx, "show map "+mapPath)
	if err != nil {
		return nil, err
	}
	entries, err := parseShowMap(answer)
	if err != nil {
		return nil, fmt.Errorf("show map %s on %s: %w", mapPath, c.addr, err)
	}
	return entries, nil
}

// parseShowMap parses "ref key value" lines; the value may contain spaces
// when the map file has them, and is empty when the file line has none.
func parseShowMap(answer string) ([]MapEntry, error) {
	var entries []MapEntry
	for i, line := range strings.Split(answer, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		_, rest, ok := strings.Cut(line, " ")
		if !ok || rest == "" {
			return nil, fmt.Errorf("answer line %d %q is not \"ref key value\"", i+1, line)
		}
		key, value, _ := strings.Cut(rest, " ")
		entries = append(entries, MapEntry{Key: key, Value: value})
	}
	return entries, nil
}

// GetMap returns the value of the first entry whose key is exactly key. It
// reads the whole map rather than using "get map", which is a match lookup.
func (c *Client) GetMap(ctx context.Context, mapPath, key string) (value string, found bool, err error) {
	if err := validateMapArgs(mapPath, key, nil); err != nil {
		return "", false, fmt.Errorf("get map %s key %q on %s: %w", mapPath, key, c.addr, err)
	}
	entries, err := c.ShowMap(ctx, mapPath)
	if err != nil {
		return "", false, err
	}
	for _, e := range entries {
		if e.Key == key {
			return e.Value, true, nil
		}
	}
	return "", false, nil
}

// SetMap sets key to value in the runtime map, adding the entry when the key
// is missing. It does not touch the map file: see WriteMapFile.
func (c *Client) SetMap(ctx context.Context, mapPath, key, value string) error {
	if err := validateMapArgs(mapPath, key, &value); err != nil {
		return fmt.Errorf("set map %s key %q on %s: %w", mapPath, key, c.addr, err)
	}
	_, err := c.Exec(ctx, fmt.Sprintf("set map %s %s %s", mapPath, key, value))
	if errors.Is(err, ErrEntryNotFound) {
		err = c.AddMap(ctx, mapPath, key, value)
	}
	if err != nil {
		return err
	}
	// Read back: only HAProxy's own word says the change is in force.
	got, found, err := c.GetMap(ctx, mapPath, key)
	if err != nil {
		return fmt.Errorf("set map %s %s %s on %s: read it back: %w", mapPath, key, value, c.addr, err)
	}
	if !found || got != value {
		return fmt.Errorf("set map %s %s %s on %s: %w: reading it back gives %q (found: %v)", mapPath, key, value, c.addr, ErrNotApplied, got, found)
	}
	return nil
}

// AddMap adds an entry to the runtime map. HAProxy does not check for
// duplicates: a second entry with the same key is added, and lookups return
// the first.
func (c *Client) AddMap(ctx context.Context, mapPath, key, value string) error {
	if err := validateMapArgs(mapPath, key, &value); err != nil {
		return fmt.Errorf("add map %s key %q on %s: %w", mapPath, key, c.addr, err)
	}
	_, err := c.Exec(ctx, fmt.Sprintf("add map %s %s %s", mapPath, key, value))
	return err
}

func validateMapArgs(mapPath, key string, value *string) error {
	if err := names.ValidateMapPath(mapPath); err != nil {
		return err
	}
	if err := names.ValidateMapKey(key); err != nil {
		return err
	}
	if value != nil {
		return names.ValidateMapValue(*value)
	}
	return nil
}
