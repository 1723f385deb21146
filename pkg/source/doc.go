// Package source follows a git repository for the desired state, with
// go-git and no git binary.
//
// The controller's loop calls [Git.Sync] at its poll interval. Sync fetches
// one branch or tag, checks the commit out and returns a [Snapshot]: the
// absolute path of the desired file or directory in that checkout and the
// commit it comes from. Sync starts nothing that outlives it; the fetch,
// its one network operation, ends when the context given to it does, or
// after [Git.Timeout] ([ErrTimeout]).
//
// # Layout under Dir
//
//	Dir/                  created 0700; refused when group or others may write to it
//	  repo.git/           a bare clone: objects and the fetched ref (refs/bluegreen/fetched)
//	  synced.json         URL, ref and the newest commit Sync returned (written by rename)
//	  checkouts/<commit>/ one tree per commit, written to checkouts/.tmp-* then renamed
//
// A commit's checkout does not change once written: a build reading the
// context of the spec in force goes on reading the same files while Sync
// checks a newer commit out beside it. Sync removes every checkout except
// the one it returns and those named by the last [Git.Keep]. Files are
// written 0644 or 0755, directories 0755, whatever the umask, so that an
// image built from a checkout is the same on every host; Dir's 0700 keeps
// them from other users.
//
// # Which commit
//
// Sync follows the ref forward and across history rewrites, never back:
//
//   - The ref moved to a descendant of the previous commit: the new commit
//     is returned.
//   - The ref moved to a commit that is neither a descendant nor an
//     ancestor of the previous one (a force-push): the new commit is
//     returned with ForcePushed set.
//   - The ref moved to an ancestor of the previous commit (a stale mirror, a
//     fetch that raced, a reset pushed with --force): Sync stays at the
//     previous commit and returns its complete Snapshot with an error
//     wrapping [ErrRefMovedBack], at every Sync until the ref moves on. To
//     roll back, push a new commit that reverts.
//
// "Previous" is the newest commit Sync returned for the same URL and ref,
// kept in Dir/synced.json across restarts; changing the URL or the ref
// starts afresh. Whether the caller applied or refused that commit does not
// matter to Sync, and nothing has to be told to it: Sync returns the same
// commit until the ref moves, and a caller that refused commit X keeps its
// spec in force and sees X again, not a new commit, at the next Sync.
//
// # Repairs
//
// Each Sync checks the checkout it returns against the commit's tree
// (contents, modes, link targets, files added or removed) and writes it
// again when it differs: a checkout edited by hand, or truncated by a
// crash, is restored. A checkout left half written (checkouts/.tmp-*) is
// removed. A local clone that can no longer be read is removed and cloned
// again. Repairs are reported in Snapshot.Notes, in words for the operator.
//
// # Desired path
//
// Path is resolved in the checkout, links followed; a path that does not
// exist ([ErrPathNotFound]) or resolves outside the checkout
// ([ErrPathOutside]) refuses the commit. Links below a desired directory
// are not followed here: spec.Load reads only the regular files of a
// directory and checks build contexts itself. A tree holding a name that
// cannot be written safely refuses the commit too ([ErrUnsafeTree]); files
// are written through an [os.Root], links last.
//
// # Credentials
//
// Credential files are read at every Sync, so a rotated key or token is
// used at the next poll. One that group or others may read (mode & 0o077 !=
// 0) is refused with [ErrCredentialFileMode]; a known_hosts or CA file that
// they may write to is refused too. Credentials never appear in errors: a
// URL holding credentials (https://token@host, user:password@) or a query
// string is refused, and shown with them hidden ([Redact]): put the token
// in TokenFile. http:// and git:// URLs, which neither encrypt nor
// authenticate the server, are refused unless [Git.InsecureTransport]. The
// ssh server's host key is always checked against known_hosts; there is no
// option to skip it.
//
// # Sizes
//
// A commit holding a file larger than [Git.MaxFileSize], files adding up
// to more than [Git.MaxCheckoutSize], a directory listing over 4 MiB or
// more than 100,000 paths is refused ([ErrTooLarge]), as an unsafe tree
// is: sizes are read from the objects' headers, so nothing too large is
// read or written. What the fetch downloads is bounded by Timeout only.
//
// # Process-wide registrations
//
// At init, this package makes go-git serve file:// URLs with its in-process
// server (go-git's file transport runs git-upload-pack), which streams
// objects larger than 1 MiB instead of reading them whole, and registers a
// dialer with golang.org/x/net/proxy under the scheme "bluegreen-sync":
// go-git's ssh transport does not dial or shake hands under the fetch's
// context, so Sync gives it that dialer, whose connection closes when Sync's
// context ends. An ALL_PROXY setting is therefore not used for ssh.
package source
