//! Object stores on S3 or an S3-compatible endpoint, built from one `[s3]` section: a
//! Parquet catalog's files and the snapshot store share it.

use std::sync::Arc;

use object_store::aws::AmazonS3Builder;
use object_store::ObjectStore;

use crate::config::S3Config;

/// The store of `bucket`; a missing key or region comes from the standard AWS
/// environment (`AWS_ACCESS_KEY_ID`, ...).
pub fn s3_store(bucket: &str, cfg: &S3Config) -> Result<Arc<dyn ObjectStore>, String> {
    let mut b = AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .with_allow_http(cfg.allow_http)
        .with_region(cfg.region.clone().unwrap_or_else(|| "us-east-1".into()));
    if let Some(ep) = &cfg.endpoint {
        b = b.with_endpoint(ep).with_virtual_hosted_style_request(false);
    }
    if let Some(k) = &cfg.access_key_id {
        b = b.with_access_key_id(k.expose());
    }
    if let Some(s) = &cfg.secret_access_key {
        b = b.with_secret_access_key(s.expose());
    }
    Ok(Arc::new(b.build().map_err(|e| e.to_string())?))
}
