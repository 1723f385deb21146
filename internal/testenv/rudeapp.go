package testenv

// RudeContext compiles ./test/rudeapp (static, CGO_ENABLED=0) once per test
// binary into a temp build context together with test/rudeapp/Dockerfile,
// and returns the context directory.
//
// The rude app answers like the demo app but has no signal handler (as PID 1
// it exits 2 on docker stop) and misbehaves on request through APP_MODE
// (crashafter=<duration>, crashatstart, alloc=<MiB>, leak=<MiB/s>,
// flap=<duration>, fail500, healthpath=<path>, coldstart=<N>x<duration>)
// and, in any mode, through POST /crash, POST /sick (the health endpoint
// answers 503 until a restart) and POST /hang (no request is answered until
// a restart); see test/rudeapp/main.go.
func RudeContext(t TB) string {
	t.Helper()
	return appContext(t, "rudeapp", "test/rudeapp")
}

// BuildRudeImage builds the rude app image as tag with build args VERSION
// and MODE (APP_MODE, e.g. "alloc=64" or "flap=2s,fail500"), and returns its
// image ID. The tag is removed (docker rmi -f) when the test ends unless
// $TESTENV_KEEP_IMAGES is set.
func BuildRudeImage(t TB, tag, version, mode string) string {
	t.Helper()
	return buildAppImage(t, RudeContext(t), tag, version, mode)
}
