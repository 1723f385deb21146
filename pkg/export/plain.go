package export

import (
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bluegreen-host/controller/pkg/spec"
)

// plainObjects are manifests of s for a cluster without Argo Rollouts: a
// Deployment per color, blue then green, and one Service whose selector
// names the active color. The active color runs one replica of the image;
// the other is written with the same image and no replica, as desired.yaml
// does not say what it ran: a release sets its image, scales it up, points
// the Service at it once it is ready, and scales the old color down.
func plainObjects(s *spec.Service) []object {
	var objs []object
	for _, c := range spec.Colors() {
		labels := map[string]string{LabelName: s.Name, LabelColor: string(c)}
		replicas := int32(0)
		if c == s.ActiveColor {
			replicas = int32(s.ReplicaCount())
		}
		objs = append(objs, &appsv1.Deployment{
			TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
			ObjectMeta: metav1.ObjectMeta{Name: s.Name + "-" + string(c), Labels: labels},
			Spec: appsv1.DeploymentSpec{
				Replicas:                &replicas,
				Selector:                &metav1.LabelSelector{MatchLabels: labels},
				Template:                podTemplate(s, c, labels),
				ProgressDeadlineSeconds: new(seconds(s.ReadyTimeout.Duration)),
			},
		})
	}
	active := map[string]string{LabelName: s.Name, LabelColor: string(s.ActiveColor)}
	return append(objs, service(s, s.Name, active))
}
