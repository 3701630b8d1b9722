//! assets/k8s (issue 11): the Deployment, Service, HPA and ConfigMap pass the Kubernetes API's
//! own schemas (kubernetes-validate, offline) and agree with each other and with gunicorn-rs's
//! settings as gunicorn-rs reads them (tests/clients/k8s_check.py says how) — and a manifest
//! broken in each of those ways is caught.

use crate::support::{apps, bin, python_client, repo};
use std::path::Path;
use std::process::Stdio;

/// The checker run on the manifests in `dir`: (passed, its stdout and stderr).
fn check(dir: &Path) -> (bool, String) {
    let out = python_client("k8s_check.py")
        .arg(dir)
        .arg(bin())
        .arg(apps())
        .stdin(Stdio::null())
        .output()
        .expect("run k8s_check.py");
    let text = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text.into_owned())
}

fn manifests() -> std::path::PathBuf {
    repo().join("assets").join("k8s")
}

#[test]
fn manifests_validate_and_agree() {
    let (ok, text) = check(&manifests());
    assert!(ok, "{text}");
    let report: serde_json::Value = serde_json::from_str(text.trim()).expect("one JSON line");
    let resources = report["resources"].as_array().unwrap();
    for kind in [
        "ConfigMap/",
        "Deployment/",
        "Service/",
        "HorizontalPodAutoscaler/",
    ] {
        assert!(
            resources
                .iter()
                .any(|r| r.as_str().unwrap().starts_with(kind)),
            "{report:#}"
        );
    }
}

/// Each change breaks one rule; the checker must say which.
#[test]
fn broken_manifests_are_caught() {
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "deployment.yaml",
            "terminationGracePeriodSeconds: 35",
            "terminationGracePeriodSeconds: 30",
            "terminationGracePeriodSeconds 30 <= shutdown_delay 10 + graceful_timeout 20",
        ),
        (
            "configmap.yaml",
            "shutdown_delay = 10",
            "shutdown_delay = 15",
            "<= shutdown_delay 15",
        ),
        (
            "deployment.yaml",
            "path: /readyz",
            "path: /healthz",
            "readinessProbe asks /healthz",
        ),
        (
            "configmap.yaml",
            "metrics_bind = \"0.0.0.0:9100\"",
            "metrics_bind = \"0.0.0.0:9200\"",
            "on metrics_bind's 9200",
        ),
        (
            "deployment.yaml",
            "memory: 2Gi",
            "memory: 1536Mi",
            "memory limit 1536Mi",
        ),
        (
            "configmap.yaml",
            "workers = 2",
            "workers = 4",
            "(workers 4 + 1)",
        ),
        (
            "service.yaml",
            "targetPort: http",
            "targetPort: metrics",
            "targetPort 'metrics'",
        ),
        (
            "deployment.yaml",
            "containerPort: 8000",
            "containerPort: \"8000\"",
            "deployment.yaml: Deployment",
        ),
        (
            "hpa.yaml",
            "minReplicas: 2",
            "minReplica: 2",
            "hpa.yaml: HorizontalPodAutoscaler",
        ),
        (
            "configmap.yaml",
            "max_worker_memory = 512",
            "max_worker_memory = \"lots\"",
            "refused the ConfigMap's config file",
        ),
    ];
    for (file, from, to, says) in cases {
        let dir = tempfile::tempdir().unwrap();
        for entry in std::fs::read_dir(manifests()).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            let name = path.file_name().unwrap();
            let text = if name == *file {
                assert!(text.contains(from), "{file} has no {from:?}");
                text.replacen(from, to, 1)
            } else {
                text
            };
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let (ok, all) = check(dir.path());
        assert!(!ok, "{file}: {to:?} passed:\n{all}");
        assert!(
            all.contains(says),
            "{file}: {to:?} should say {says:?}:\n{all}"
        );
    }
}
