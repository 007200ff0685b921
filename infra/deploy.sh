#!/usr/bin/env bash
# Package the queue-depth Lambda, upload it to S3 and deploy infra/cloudformation.yaml.
#   infra/deploy.sh STACK_NAME CODE_BUCKET [ParameterKey=Value ...]
#   WITH_REDIS=1 infra/deploy.sh academy-video-prod my-artifacts FastAck=1 RedisUrl=redis://... \
#       LambdaSubnetIds=subnet-a,subnet-b LambdaSecurityGroupIds=sg-123
# Needs the AWS CLI and credentials for the target account.
set -euo pipefail

if [ $# -lt 2 ]; then
    echo "usage: $0 STACK_NAME CODE_BUCKET [ParameterKey=Value ...]" >&2
    exit 2
fi
stack=$1 bucket=$2
shift 2
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT

redis_flag=()
if [ "${WITH_REDIS:-0}" = 1 ]; then redis_flag=(--with-redis); fi
zip=$(python3 "$root/infra/package_lambda.py" --out "$build" "${redis_flag[@]}")
# The key carries the content hash: a new key is what makes CloudFormation update the code.
key="lambda/$(basename "$zip")"

aws s3 cp "$zip" "s3://$bucket/$key"
aws cloudformation deploy \
    --stack-name "$stack" \
    --template-file "$root/infra/cloudformation.yaml" \
    --capabilities CAPABILITY_IAM \
    --parameter-overrides LambdaCodeS3Bucket="$bucket" LambdaCodeS3Key="$key" "$@"
aws cloudformation describe-stacks --stack-name "$stack" --query 'Stacks[0].Outputs'
