package state

// Rollbacks are the rollbacks asked for at the host (controller rollback,
// the dashboard): per service, the generation to roll back, while it is
// being verified or held after a job that cannot be undone (which goes
// back to its previous color only when asked). They live in a file of the
// state directory, as the approvals do.
type Rollbacks struct{ g generations }

// NewRollbacks keeps the rollback requests in the file at path.
func NewRollbacks(path string) *Rollbacks {
	return &Rollbacks{generations{path, "rollback requests", &readMemo{}}}
}

// All reads the requests; a missing file holds none.
func (r *Rollbacks) All() (map[string]string, error) { return r.g.all() }

// Ask records that the release of generation of service is to be rolled
// back.
func (r *Rollbacks) Ask(service, generation string) error {
	return r.g.set(service, generation, "ask the rollback of")
}
