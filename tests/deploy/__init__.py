"""What `serverless package` builds for Lambda, checked without an AWS account."""
