// Package metrics exposes what the reconcile loop does as Prometheus
// metrics, and serves them with the process's health and readiness.
//
// # Wiring
//
// A *Metrics is a reconcile.Listener with a registry of its own (never the
// global one). The caller gives it to the loop, beside any other observer,
// and serves its handler on a listener of its choice:
//
//	m := metrics.New(metrics.Options{Version: version})
//	loop.Listener = reconcile.Listeners{m, notifier}
//	m.SetSource(commit) // at start and whenever the applied commit changes
//	srv := &http.Server{Addr: "127.0.0.1:9110", Handler: m.Handler(3 * resync),
//		ReadHeaderTimeout: 5 * time.Second}
//
// Every Listener method returns at once: it only updates values in memory.
//
// # Services that leave the desired state
//
// The loop does not say when a service is removed (a pass may look at only
// some services), so series of a removed service stay until the caller
// says so: Keep(names) forgets every service not named, and is meant to be
// called with the names of the desired state each time it is loaded and
// accepted; Forget(name) forgets one. A step that was in flight for a
// removed service and ends after Keep may bring a few of its series back;
// the next Keep removes them again.
//
// # Metrics
//
// Per service (label service):
//
//	bluegreen_served_color{service,color}            gauge: 1 for the color the map points at, 0 for the other (both 0 when none serves)
//	bluegreen_phase{service,phase}                    gauge: 1 for the phase of the latest decision (Converged, Progressing, Degraded, Failed), 0 for the others
//	bluegreen_served_up{service}                      gauge: 1 while HAProxy says a server of the served color is UP, 0 while all are DOWN or nothing serves (an outage: its requests get 503)
//	bluegreen_releases_started_total{service}         counter: releases started (first step towards a new generation)
//	bluegreen_releases_total{service,outcome}         counter: releases ended, by outcome (Succeeded, RolledBack, Failed, Superseded, Held)
//	bluegreen_jobs_total{service,outcome}             counter: release jobs of the releases ended, by outcome (Succeeded, Failed)
//	bluegreen_release_duration_seconds{service,outcome} histogram: a release's start to its end
//	bluegreen_release_switch_duration_seconds{service} histogram: a release's start to the switch of the map (releases that switched)
//	bluegreen_drain_duration_seconds{service}         histogram: a color's DrainServer step done to the start of its StopContainer step
//	bluegreen_served_restarts{service}                gauge: the engine's restarts of the served color's containers (all replicas) since the controller last started each
//	bluegreen_served_restarts_total{service}          counter: restarts of the served color seen by this process
//	bluegreen_canary_step{service}                    gauge: the canary step in force (from 1) while the map key points at the canary backend, else 0
//	bluegreen_canary_weight_percent{service}          gauge: the percent of new users that step sends to the new version, else 0
//	bluegreen_steps_total{service,action,result}      counter: steps taken, result ok or error
//	bluegreen_reconcile_errors_total{service,reason}  counter: passes of a service that could not observe (reason as in status: DockerUnreachable, HAProxyUnreachable, Timeout, ObserveFailed) and failed steps (reason StepFailed)
//
// For the whole process:
//
//	bluegreen_step_duration_seconds{action}               histogram: how long steps took
//	bluegreen_passes_total{result}                        counter: passes ended, result ok or error
//	bluegreen_desired_state_accepted                      gauge: 1 when the last pass loaded the desired state, 0 when it refused it or before the first pass
//	bluegreen_last_successful_pass_timestamp_seconds      gauge: end of the last pass that ended ok, in Unix seconds
//	bluegreen_last_successful_pass_age_seconds            gauge: seconds since then, computed at scrape time (absent before the first)
//	bluegreen_source_info{commit}                         gauge: 1, for the commit of the desired state in force (SetSource)
//	bluegreen_build_info{version,goversion}               gauge: 1
//
// and the Go runtime's and the process's standard go_* and process_*
// metrics, and promhttp_* about the scrapes themselves.
//
// Restarts are given twice because the engine's count is not monotonic:
// it starts again from 0 when the controller starts the container again,
// and belongs to another container when the served color changes. The
// gauge bluegreen_served_restarts is that count as the engine gives it:
// how often the serving container crashed since it was last started. The
// counter bluegreen_served_restarts_total only goes up, for rate() and
// increase() in alerts: it adds each rise of the engine's count while the
// same color serves, and the whole count after it went down (the
// container was started again and has restarted since) or when another
// color serves. The first count seen after the controller starts, or after
// a pass where no color served, is a baseline, not added.
//
// Drain durations run from the end of a color's DrainServer step to the
// start of its StopContainer step: how long the old color kept running
// drained, verification window and idle.stopAfter included. A drained
// color that is taken back (SetServerReady, StartContainer,
// CreateContainer or RemoveContainer of that color) is not counted; one
// kept warm is counted only if it is stopped later.
//
// # Health and readiness
//
// Handler serves /metrics, /healthz (200 "ok": the process answers) and
// /readyz: 200 "ok" only when the last pass ended ok no longer than
// staleAfter ago; otherwise 503 with one line saying why (no pass yet, the
// desired state refused, which services could not be observed, or how long
// ago the last pass ended). A pass that ended not ok without any service
// failing to be observed is taken as the desired state refused: that is
// the loop's only other cause of a pass that is not ok (a step's failure
// is reported by Stepped, not by the pass).
package metrics
