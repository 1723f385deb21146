package docker

// Label keys the controller puts on every container it owns.
const (
	LabelManaged  = "io.bluegreen.managed" // value "true"
	LabelService  = "io.bluegreen.service"
	LabelColor    = "io.bluegreen.color"
	LabelReplica  = "io.bluegreen.replica" // the replica's number, from 1
	LabelImage    = "io.bluegreen.image"   // the image reference the spec asked for
	LabelSpecHash = "io.bluegreen.spec-hash"
	// LabelJob and LabelGeneration mark the one-shot container of a
	// release job: the job's name and the release's generation.
	LabelJob        = "io.bluegreen.job"
	LabelGeneration = "io.bluegreen.generation"
)

// managed reports whether labels mark a container as the controller's own.
func managed(labels map[string]string) bool {
	return labels[LabelManaged] == "true"
}
