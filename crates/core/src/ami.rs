//! "AMI-ready" export. An AMI is not a file: it is an EC2 registration of
//! EBS snapshots. What imgforge can make is the disk that `aws ec2
//! import-snapshot` / `import-image` accept from S3 (raw, VHD or
//! streamOptimized VMDK) and the `containers.json` those commands take.
//! See docs/ami.md.

/// The `--disk-container` (import-snapshot) / `--disk-containers`
/// (import-image) JSON for an image uploaded to `s3://bucket/key`.
/// `format` is one of `raw`, `vhd`, `vmdk` (case-insensitive, written in
/// upper case as EC2 expects).
pub fn ami_containers_json(bucket: &str, key: &str, format: &str, description: &str) -> String {
    let v = serde_json::json!([{
        "Description": description,
        "Format": format.to_ascii_uppercase(),
        "UserBucket": { "S3Bucket": bucket, "S3Key": key },
    }]);
    serde_json::to_string_pretty(&v).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn containers_json_names_bucket_key_and_format() {
        let s = super::ami_containers_json("b", "k/disk.vmdk", "vmdk", "my \"disk\"");
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v[0]["Format"], "VMDK");
        assert_eq!(v[0]["UserBucket"]["S3Bucket"], "b");
        assert_eq!(v[0]["UserBucket"]["S3Key"], "k/disk.vmdk");
        assert_eq!(v[0]["Description"], "my \"disk\"");
    }
}
