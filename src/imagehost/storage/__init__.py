"""Object stores: one small protocol, local (and later S3 and Swift) implementations."""
