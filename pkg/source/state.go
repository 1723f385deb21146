package source

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/bluegreen-host/controller/internal/safefile"
)

// state is what Sync remembers across restarts: the newest commit it
// returned for a URL and ref, so that it never goes back from it.
type state struct {
	URL    string `json:"url"`
	Ref    string `json:"ref"`
	Commit string `json:"commit"`
}

func (s state) follows(c config) bool {
	return s.URL == c.url && s.Ref == c.ref.String() && s.Commit != ""
}

// readState returns the zero state when the file is missing; a file that
// cannot be parsed is reported in note and counts as missing.
func readState(c config) (s state, note string, err error) {
	b, err := os.ReadFile(c.stateFile())
	if errors.Is(err, fs.ErrNotExist) {
		return state{}, "", nil
	}
	if err != nil {
		return state{}, "", fmt.Errorf("read %s: %w", c.stateFile(), err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return state{}, fmt.Sprintf("%s could not be parsed (%v): the commit synced before is forgotten and the ref is followed wherever it is", c.stateFile(), err), nil
	}
	return s, "", nil
}

func writeState(c config, s state) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	if err := safefile.WriteFile(c.stateFile(), append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("record synced commit %s in %s: %w", s.Commit, c.stateFile(), err)
	}
	return nil
}
