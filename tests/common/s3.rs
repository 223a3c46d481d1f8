//! A bucket on the local S3 (moto, started by scripts/services), removed with its objects
//! at the end of the test.

use std::process::Command;
use std::sync::Arc;

use object_store::aws::AmazonS3Builder;
use object_store::ObjectStore;

pub const S3_ENDPOINT: &str = "http://127.0.0.1:9000";

pub struct Bucket(pub String);

impl Bucket {
    pub fn new(prefix: &str) -> Self {
        let name = super::unique(prefix).replace('_', "-");
        let ok = Command::new("curl").args(["-sf", "-X", "PUT", &format!("{S3_ENDPOINT}/{name}")]).status().unwrap();
        assert!(ok.success(), "S3 at {S3_ENDPOINT} is not running: run scripts/services");
        Bucket(name)
    }

    /// A client for the bucket, with the test keys.
    pub fn store(&self) -> Arc<dyn ObjectStore> {
        Arc::new(
            AmazonS3Builder::new()
                .with_bucket_name(&self.0)
                .with_endpoint(S3_ENDPOINT)
                .with_allow_http(true)
                .with_region("us-east-1")
                .with_access_key_id("test")
                .with_secret_access_key("test")
                .build()
                .unwrap(),
        )
    }

    /// Object keys under `prefix`.
    pub fn keys(&self, prefix: &str) -> Vec<String> {
        let out = Command::new("curl")
            .args(["-sf", &format!("{S3_ENDPOINT}/{}?list-type=2&prefix={prefix}", self.0)])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        text.split("<Key>").skip(1).filter_map(|s| s.split("</Key>").next()).map(str::to_string).collect()
    }
}

impl Drop for Bucket {
    fn drop(&mut self) {
        // Objects are deleted only by a signed request (an unsigned one is 403).
        for key in self.keys("") {
            let url = format!("{S3_ENDPOINT}/{}/{key}", self.0);
            let _ = Command::new("curl")
                .args(["-s", "--aws-sigv4", "aws:amz:us-east-1:s3", "--user", "test:test", "-X", "DELETE", &url])
                .status();
        }
        let _ = Command::new("curl").args(["-s", "-X", "DELETE", &format!("{S3_ENDPOINT}/{}", self.0)]).status();
    }
}
