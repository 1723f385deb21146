package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/docker/docker/api/types/image"
)

// ImageID returns the ID ("sha256:...") of the local image ref. found is
// false, with no error, when the engine has no such image.
func (d *Driver) ImageID(ctx context.Context, ref string) (id string, found bool, err error) {
	if ref == "" {
		return "", false, errors.New("inspect image: empty image reference")
	}
	rctx, cancel := d.read(ctx)
	defer cancel()
	img, err := d.cli.ImageInspect(rctx, ref)
	if isNotFound(err) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("inspect image %s: %w", ref, d.readErr(ctx, err))
	}
	return img.ID, true, nil
}

// Pull fetches ref from its registry with the credentials that
// `docker login` stored for that registry (Docker's client config,
// $DOCKER_CONFIG/config.json, default ~/.docker/config.json, and the
// credential helpers it names), read afresh at each pull. A failed pull
// says which registry, whether credentials were found for it and where
// they were looked for, and the engine's answer; never a credential.
func (d *Driver) Pull(ctx context.Context, ref string) error {
	if ref == "" {
		return errors.New("pull image: empty image reference")
	}
	creds, err := lookupCreds(ref, dockerConfigDir())
	if err != nil {
		return fmt.Errorf("pull image %s: %w", ref, err)
	}
	fail := func(err error) error {
		return fmt.Errorf("pull image %s from registry %s: %s: %w", ref, creds.registry, creds.describe(), creds.redact(d.engineErr(err)))
	}
	rc, err := d.cli.ImagePull(ctx, ref, image.PullOptions{RegistryAuth: creds.encoded})
	if err != nil {
		return fail(err)
	}
	defer rc.Close()
	if _, err := readProgress(rc, nil); err != nil {
		return fail(err)
	}
	return nil
}

// progressMessage is one line of the JSON stream that build and pull return.
type progressMessage struct {
	Stream string `json:"stream"`
	Status string `json:"status"`
	Error  *struct {
		Message string `json:"message"`
	} `json:"errorDetail"`
	ErrorText string `json:"error"`
	Aux       *struct {
		ID string `json:"ID"`
	} `json:"aux"`
}

// readProgress reads a build or pull stream to its end, calling each (if
// not nil) for every message, and returns the error the stream reports.
// It returns the image ID an aux message carried, if any.
func readProgress(r io.Reader, each func(progressMessage)) (auxID string, err error) {
	dec := json.NewDecoder(r)
	for {
		var m progressMessage
		if err := dec.Decode(&m); err == io.EOF {
			return auxID, nil
		} else if err != nil {
			return auxID, fmt.Errorf("read engine output: %w", err)
		}
		if m.Aux != nil && m.Aux.ID != "" {
			auxID = m.Aux.ID
		}
		if each != nil {
			each(m)
		}
		switch {
		case m.Error != nil && m.Error.Message != "":
			return auxID, errors.New(m.Error.Message)
		case m.ErrorText != "":
			return auxID, errors.New(m.ErrorText)
		}
	}
}
