package source

import "errors"

// Sentinel errors, checked with errors.Is.
var (
	// ErrRefMovedBack: the ref points at an ancestor of the newest commit
	// Sync returned. Sync stays at that commit; the Snapshot returned with
	// this error is complete and is the one to keep loading.
	ErrRefMovedBack = errors.New("ref moved back to an older commit")
	// ErrPathNotFound: the desired path does not exist in the commit. The
	// Snapshot returned with this error names the commit, not a path.
	ErrPathNotFound = errors.New("desired path not found")
	// ErrPathOutside: the desired path, or a link below the desired
	// directory, resolves outside the checkout (or does not resolve). The
	// Snapshot returned with this error names the commit, not a path.
	ErrPathOutside = errors.New("desired path resolves outside the repository")
	// ErrUnsafeTree: the commit's tree holds a name that cannot be written
	// safely ("..", a slash, twice the same name), a link target that is
	// empty or too long, or directories nested too deep. The Snapshot
	// returned with this error names the commit, not a path.
	ErrUnsafeTree = errors.New("tree cannot be checked out safely")
	// ErrCredentialFileMode: a credential file may be read by its group or by
	// others. Retrying will not help until its mode is 0600 or 0400.
	ErrCredentialFileMode = errors.New("credential file readable by group or others")
	// ErrTimeout: a fetch did not end within Git.Timeout: the server
	// accepted the connection and did not answer, or answered too slowly.
	// Retry at the next poll.
	ErrTimeout = errors.New("timed out")
	// ErrTooLarge: a file, a directory listing, or the whole tree of the
	// commit is larger than its limit (Git.MaxFileSize,
	// Git.MaxCheckoutSize). The Snapshot returned with this error names
	// the commit, not a path.
	ErrTooLarge = errors.New("larger than the limit")
	// ErrConfig: a field of Git is missing or invalid. Retrying will not help.
	ErrConfig = errors.New("invalid git source")
)

// corruptError marks a failure to read the local clone itself (not the
// remote, not the checkout): Sync removes the clone and clones again.
type corruptError struct{ err error }

func (e *corruptError) Error() string { return e.err.Error() }
func (e *corruptError) Unwrap() error { return e.err }

func corrupt(err error) error {
	if err == nil {
		return nil
	}
	return &corruptError{err}
}
