package spec

import "time"

// Defaults for fields an operator may leave out.
const (
	DefaultContainerPort = 8080
	DefaultHealthPath    = "/healthz"
	DefaultServer        = "app"
	DefaultDockerfile    = "Dockerfile"
	DefaultReadyTimeout  = 60 * time.Second
	DefaultDrainTimeout  = 30 * time.Second
	DefaultStopTimeout   = 10 * time.Second
	DefaultVerifyWindow  = 30 * time.Second
	DefaultMaxErrorRate  = 0.05
	DefaultMinRequests   = 20
	DefaultCheckInterval = 100 * time.Millisecond
)

func (s *Service) applyDefaults() {
	if s.Network == "" {
		s.Network = NetworkBridge
	}
	if s.ContainerPort == 0 && s.Network != NetworkHost {
		s.ContainerPort = DefaultContainerPort
	}
	if s.HealthPath == "" {
		s.HealthPath = DefaultHealthPath
	}
	for _, c := range []*ColorSpec{&s.Colors.Blue, &s.Colors.Green} {
		if c.Server == "" {
			c.Server = DefaultServer
		}
	}
	if s.Colors.Blue.Backend == "" {
		s.Colors.Blue.Backend = s.Name + "_blue"
	}
	if s.Colors.Green.Backend == "" {
		s.Colors.Green.Backend = s.Name + "_green"
	}
	if s.HAProxy.MapKey == "" {
		s.HAProxy.MapKey = s.Name
	}
	if s.Warmup != nil {
		s.Warmup.applyDefaults()
	}
	if s.Strategy != nil {
		s.Strategy.applyDefaults(s.Name)
	}
	if s.Build != nil && s.Build.Dockerfile == "" {
		s.Build.Dockerfile = DefaultDockerfile
	}
	if s.ReadyTimeout.Duration == 0 {
		s.ReadyTimeout.Duration = DefaultReadyTimeout
	}
	if s.DrainTimeout.Duration == 0 {
		s.DrainTimeout.Duration = DefaultDrainTimeout
	}
	if s.StopTimeout.Duration == 0 {
		s.StopTimeout.Duration = DefaultStopTimeout
	}
	if s.Idle.Policy == "" {
		s.Idle.Policy = IdleStop
	}
	if s.Verify.Window == nil {
		s.Verify.Window = &Duration{DefaultVerifyWindow}
	}
	if s.Verify.MaxErrorRate == nil {
		r := DefaultMaxErrorRate
		s.Verify.MaxErrorRate = &r
	}
	for i := range s.Checks {
		c := &s.Checks[i]
		if c.Method == "" {
			c.Method = "GET"
		}
		if c.ExpectStatus == 0 {
			c.ExpectStatus = 200
		}
		if c.Count == 0 {
			c.Count = 1
		}
		if c.Interval.Duration == 0 {
			c.Interval.Duration = DefaultCheckInterval
		}
		if c.Name == "" {
			c.Name = c.Method + " " + c.Path
		}
	}
	s.jobDefaults()
	if s.Promotion.Mode == "" {
		s.Promotion.Mode = PromotionAuto
	}
	if s.Verify.MinRequests == 0 {
		s.Verify.MinRequests = DefaultMinRequests
	}
}
