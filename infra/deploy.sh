#!/usr/bin/env bash
# Deploy the whole stack (infra/cloudformation.yaml), in this order:
#   1. the queue-depth Lambda's zip to the artifact bucket;
#   2. the project image to ECR (repository created on first use);
#   3. the stack with the new image for the migration task only (services keep the image
#      they run; on the very first deploy they are created with no task);
#   4. the migrations, as a one-off Fargate task: a failure stops the deploy here;
#   5. the stack again with the new image for the services, which roll (new tasks first,
#      old ones stopped with their stop timeout), then wait until they are stable.
#
#   AWS_REGION=eu-west-1 infra/deploy.sh STACK ARTIFACT_BUCKET [ParameterKey=Value ...]
#
# Environment:
#   AWS_REGION          the region (required)
#   IMAGE_REPOSITORY    ECR repository name (default academy-video)
#   IMAGE_TAG           image tag (default: the git revision; tags are immutable)
#   PLAYBACK_KEY_FILE   PEM private key for signed playback URLs: stored in Secrets Manager
#                       as STACK/cloudfront-private-key, its public half passed to the stack.
#                       Needed on the first deploy; later deploys keep the stored one.
# The first deploy also needs DomainName=… and CertificateArn=… among the parameters.
# Needs the AWS CLI, docker (or podman with a docker alias), openssl, python3.
set -euo pipefail

if [ $# -lt 2 ]; then
    echo "usage: AWS_REGION=… $0 STACK ARTIFACT_BUCKET [ParameterKey=Value ...]" >&2
    exit 2
fi
: "${AWS_REGION:?set AWS_REGION}"
export AWS_REGION AWS_DEFAULT_REGION="$AWS_REGION"
stack=$1 bucket=$2
shift 2
root=$(cd "$(dirname "$0")/.." && pwd)
repository=${IMAGE_REPOSITORY:-academy-video}
tag=${IMAGE_TAG:-$(git -C "$root" rev-parse --short=12 HEAD)}
build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT

step() { printf '\n== %s\n' "$*" >&2; }

output() {  # the value of one stack output, empty when the stack or output does not exist
    aws cloudformation describe-stacks --stack-name "$stack" \
        --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue | [0]" --output text \
        2>/dev/null | sed 's/^None$//' || true
}

deploy_stack() {
    aws cloudformation deploy \
        --stack-name "$stack" \
        --template-file "$root/infra/cloudformation.yaml" \
        --s3-bucket "$bucket" --s3-prefix "templates/$stack" \
        --capabilities CAPABILITY_IAM \
        --no-fail-on-empty-changeset \
        --parameter-overrides "${parameters[@]}" "$@"
}

step "1/5 Lambda package"
redis_flag=()
for arg in "$@"; do
    if [ "$arg" = FastAck=1 ]; then redis_flag=(--with-redis); fi
done
zip=$(python3 "$root/infra/package_lambda.py" --out "$build" "${redis_flag[@]}")
# The key carries the content hash: a new key is what makes CloudFormation update the code.
lambda_key="lambda/$(basename "$zip")"
aws s3 cp "$zip" "s3://$bucket/$lambda_key"
parameters=(LambdaCodeS3Bucket="$bucket" LambdaCodeS3Key="$lambda_key" \
    ImageRepositoryName="$repository" "$@")

if [ -n "${PLAYBACK_KEY_FILE:-}" ]; then
    step "playback signing key"
    secret_name="$stack/cloudfront-private-key"
    if secret_arn=$(aws secretsmanager describe-secret --secret-id "$secret_name" \
        --query ARN --output text 2>/dev/null); then
        aws secretsmanager put-secret-value --secret-id "$secret_arn" \
            --secret-string "file://$PLAYBACK_KEY_FILE" >/dev/null
    else
        secret_arn=$(aws secretsmanager create-secret --name "$secret_name" \
            --description "VIDEO_CLOUDFRONT_PRIVATE_KEY of $stack" \
            --secret-string "file://$PLAYBACK_KEY_FILE" --query ARN --output text)
    fi
    public_key=$(openssl pkey -in "$PLAYBACK_KEY_FILE" -pubout)
    parameters+=(CloudFrontPrivateKeySecretArn="$secret_arn" CloudFrontPublicKeyPem="$public_key")
fi  # without it, `cloudformation deploy` keeps the values the stack already has

step "2/5 image $repository:$tag"
account=$(aws sts get-caller-identity --query Account --output text)
registry="$account.dkr.ecr.$AWS_REGION.amazonaws.com"
image="$registry/$repository:$tag"
if ! aws ecr describe-repositories --repository-names "$repository" >/dev/null 2>&1; then
    aws ecr create-repository --repository-name "$repository" \
        --image-tag-mutability IMMUTABLE \
        --image-scanning-configuration scanOnPush=true >/dev/null
fi
if aws ecr describe-images --repository-name "$repository" --image-ids "imageTag=$tag" \
    >/dev/null 2>&1; then
    echo "$image is already in ECR" >&2
else
    docker build -f "$root/infra/Dockerfile" -t "$image" "$root"
    aws ecr get-login-password | docker login --username AWS --password-stdin "$registry"
    docker push "$image"
fi

step "3/5 stack, new image for the migration task only"
running=$(output ServiceImageUri)
deploy_stack MigrationImageUri="$image" ImageUri="$running"

step "4/5 migrations"
cluster=$(output ClusterName)
subnets=$(output TaskSubnetIds)
security_group=$(output TaskSecurityGroupId)
task=$(aws ecs run-task --cluster "$cluster" --launch-type FARGATE \
    --task-definition "$(output MigrateTaskDefinitionArn)" \
    --network-configuration "awsvpcConfiguration={subnets=[$subnets],securityGroups=[$security_group],assignPublicIp=DISABLED}" \
    --started-by "deploy-$tag" --query 'tasks[0].taskArn' --output text)
aws ecs wait tasks-stopped --cluster "$cluster" --tasks "$task"
exit_code=$(aws ecs describe-tasks --cluster "$cluster" --tasks "$task" \
    --query 'tasks[0].containers[0].exitCode' --output text)
if [ "$exit_code" != 0 ]; then
    echo "migrations failed (exit code $exit_code): see log group /academy/$stack/migrate;" \
        "the services still run $running" >&2
    exit 1
fi

step "5/5 services roll to $image"
deploy_stack MigrationImageUri="$image" ImageUri="$image"
services=()
for name in WebServiceName WorkerServiceName ReconcileServiceName DispatcherServiceName \
    CaptionWorkerServiceName; do
    services+=("$(output "$name")")
done
aws ecs wait services-stable --cluster "$cluster" --services "${services[@]}"
aws cloudformation describe-stacks --stack-name "$stack" --query 'Stacks[0].Outputs'
