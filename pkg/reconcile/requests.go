package reconcile

// requests reads what operators asked at the host: per service, the
// generation approved (controller promote) and the generation to roll
// back (controller rollback); either store may be absent.
func (l *Loop) requests() (approved, rollbacks map[string]string) {
	approved, rollbacks = map[string]string{}, map[string]string{}
	var err error
	if l.Approvals != nil {
		if approved, err = l.Approvals.All(); err != nil {
			l.Log.Error(err, "Cannot read the approvals; releases waiting for one go on waiting")
		}
	}
	if l.Rollbacks != nil {
		if rollbacks, err = l.Rollbacks.All(); err != nil {
			l.Log.Error(err, "Cannot read the rollback requests; releases being verified go on")
		}
	}
	return approved, rollbacks
}
