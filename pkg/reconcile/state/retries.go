package state

// Retries are the retries asked for at the host (controller retry, the
// dashboard): per service, the generation whose release was rolled back
// or failed and is to be tried again. The loop honours a request once:
// it counts the retry in status (ServiceStatus.Retried), which gives the
// service its next generation, then takes the request off the file
// (Done). They live in a file of the state directory, as the approvals
// do.
type Retries struct{ g generations }

// NewRetries keeps the retry requests in the file at path.
func NewRetries(path string) *Retries {
	return &Retries{generations{path, "retry requests", &readMemo{}}}
}

// All reads the requests; a missing file holds none.
func (r *Retries) All() (map[string]string, error) { return r.g.all() }

// Ask records that the release of generation of service is to be tried
// again.
func (r *Retries) Ask(service, generation string) error {
	return r.g.set(service, generation, "ask a retry of")
}

// Done takes the request for generation of service off the file, once
// it was honoured or can no longer be; a request asked since for another
// generation stays.
func (r *Retries) Done(service, generation string) error {
	return r.g.drop(service, generation, "drop the retry request of")
}
