"""infra/bootstrap.yml and `mlops bootstrap`: least privilege, and each role trusted by one GitHub subject.

moto deploys the stack's roles and bucket, not all of it, so what it cannot show is read from
the template itself:
- moto's CloudFormation skips AWS::IAM::OIDCProvider, AWS::SageMaker::ModelPackageGroup,
  AWS::S3::BucketPolicy and the EventBridge Connection and ApiDestination. The tests therefore
  reuse a provider made with the IAM API (the path `mlops bootstrap` takes when the account has
  one), cannot deploy with --approval-dispatch, and check the group, bucket policy and dispatch
  resources in the template.
- From CloudFormation, moto applies a bucket's encryption but not its versioning, public access
  block or ownership controls, and it records no role tags or managed-policy attachments.
- moto evaluates no IAM policy: whether the roles can do their jobs on AWS is not tested here.
  cfn-lint (`make lint`) checks every property against the real resource schemas.
"""

import ast
import hashlib
import json
import re
from importlib.metadata import distribution

import boto3
import pytest
import yaml
from conftest import ANSWERS, PRESET, PRESETS, TUNING
from moto import mock_aws
from sagemaker_gitops import aws, bootstrap
from sagemaker_gitops.bootstrap import VARIABLES, stack_name, template_path
from sagemaker_gitops.build.pipelines import build
from sagemaker_gitops.definition.step_code import StepCode
from sagemaker_gitops.desired_state import STAGES
from sagemaker_gitops.project import load_step, project
from sagemaker_gitops.stages import stacks, stage_schedules

GITHUB_ROLES = {
    "BuildRole": "ref:refs/heads/${DefaultBranch}",
    "ObserverRole": "ref:refs/heads/${DefaultBranch}",
    "StagingDeployRole": "environment:staging",
    "ProdDeployRole": "environment:production",
}
OIDC = "token.actions.githubusercontent.com"


@pytest.fixture(scope="module")
def template(read_template):
    return read_template(template_path())


def branches(value):
    """Both sides of every Fn::If: a conditional statement is checked whichever way it goes."""
    if isinstance(value, dict) and "Fn::If" in value:
        return [leaf for branch in value["Fn::If"][1:] for leaf in branches(branch)]
    if value == {"Ref": "AWS::NoValue"}:
        return []
    return [value]


def statements(template: dict) -> list[tuple[str, dict]]:
    """(resource name, statement) for every IAM statement in the template's policies."""
    found = []

    def walk(name: str, value) -> None:
        if isinstance(value, dict):
            if "Statement" in value:
                for item in value["Statement"]:
                    found.extend((name, statement) for statement in branches(item))
            for child in value.values():
                walk(name, child)
        elif isinstance(value, list):
            for child in value:
                walk(name, child)

    for name, resource in template["Resources"].items():
        walk(name, resource["Properties"])
    return found


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def test_the_template_has_iam_statements_to_check(template):
    # The rules below pass vacuously on an empty list; this is what makes them able to fail.
    assert len(statements(template)) > 30


def test_no_statement_allows_every_action_or_a_whole_service(template):
    for name, statement in statements(template):
        if statement["Effect"] == "Allow":
            wide = [a for a in as_list(statement["Action"]) if a == "*" or a.endswith(":*")]
            assert not wide, f"{name} {statement.get('Sid', '')}: allows {wide}"


def test_resource_star_only_where_the_template_says_why(template):
    lines = template_path().read_text().splitlines()
    starred = [i for i, line in enumerate(lines) if re.search(r"\bResource: \"\*\"", line)]
    for i in starred:
        explained = "#" in lines[i] or lines[i - 1].strip().startswith("#")
        assert explained, f'infra/bootstrap.yml line {i + 1}: Resource "*" without a comment saying why'
    # Every statement that allows "*" is one of those lines: no "*" hides in a list or another form.
    allowed_everywhere = [
        (name, s.get("Sid"))
        for name, s in statements(template)
        if s["Effect"] == "Allow" and "*" in as_list(s.get("Resource", []))
    ]
    assert len(allowed_everywhere) == len(starred), allowed_everywhere


@pytest.mark.parametrize("role, subject", GITHUB_ROLES.items())
def test_each_github_role_trusts_one_subject_of_this_repository(template, role, subject):
    trust = template["Resources"][role]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert len(trust) == 1
    assert trust[0]["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert set(trust[0]["Condition"]) == {"StringEquals"}  # no StringLike: no wildcard subjects
    assert trust[0]["Condition"]["StringEquals"] == {
        f"{OIDC}:aud": "sts.amazonaws.com",
        f"{OIDC}:sub": {"Fn::Sub": "repo:${GitHubRepository}:" + subject},
    }


def test_each_workflow_job_assumes_the_role_trusted_for_how_it_runs(template):
    """A job in a GitHub environment presents `environment:<name>`, any other job its branch."""
    variable_to_role = {
        variable: template["Outputs"][output]["Value"]["Fn::GetAtt"][0]
        for output, variable in VARIABLES.items()
        if output != "Region"
    }
    checked = 0
    for path in sorted((project().root / ".github" / "workflows").glob("*.yml")):
        for name, job in yaml.safe_load(path.read_text())["jobs"].items():
            for step in job.get("steps", []):
                if not step.get("uses", "").startswith("aws-actions/configure-aws-credentials@"):
                    continue
                variable = re.fullmatch(r"\$\{\{ vars\.(\w+) \}\}", step["with"]["role-to-assume"])[1]
                expected = (
                    f"environment:{job['environment']}"
                    if "environment" in job
                    else "ref:refs/heads/${DefaultBranch}"
                )
                assert GITHUB_ROLES[variable_to_role[variable]] == expected, f"{path.name} job {name}"
                checked += 1
    assert checked >= 5


def test_every_repository_variable_the_workflows_read_is_printed_by_bootstrap():
    read = set()
    for path in (project().root / ".github" / "workflows").glob("*.yml"):
        read |= set(re.findall(r"\$\{\{ vars\.(\w+) \}\}", path.read_text()))
    optional = {"MLOPS_PROMOTE_APP_ID"}  # a GitHub App of the user's own (docs/github-workflows.md)
    assert read - optional == set(VARIABLES.values())


def test_the_bucket_is_encrypted_private_versioned_and_tls_only(template):
    bucket = template["Resources"]["ArtifactBucket"]["Properties"]
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert len(bucket["PublicAccessBlockConfiguration"]) == 4
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert bucket["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    policy = template["Resources"]["ArtifactBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert {
        "Sid": "TlsOnly",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [{"Fn::GetAtt": ["ArtifactBucket", "Arn"]}, {"Fn::Sub": "${ArtifactBucket.Arn}/*"}],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    } in policy


def test_the_deploy_roles_may_touch_only_resources_tagged_with_their_stage(template, read_template):
    resources = template["Resources"]
    for role, stage in (("StagingDeployRole", "staging"), ("ProdDeployRole", "prod")):
        properties = resources[role]["Properties"]
        assert {"Key": "stage", "Value": stage} in properties["Tags"]
        assert properties["ManagedPolicyArns"] == [{"Ref": "EndpointDeployPolicy"}]
    by_sid = {
        s["Sid"]: s for s in resources["EndpointDeployPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    }
    required = by_sid["CreateTaggedModelsAndConfigs"]["Condition"]["StringEquals"]
    assert required == {
        "aws:RequestTag/project": {"Ref": "Project"},
        "aws:RequestTag/stage": "${aws:PrincipalTag/stage}",
    }
    # deploy/endpoint.yml gives every SageMaker resource the tags that condition asks for.
    for name, resource in read_template(project().root / "deploy" / "endpoint.yml")["Resources"].items():
        if resource["Type"].startswith("AWS::SageMaker::"):
            tags = {tag["Key"]: tag["Value"] for tag in resource["Properties"]["Tags"]}
            assert tags["project"] == {"Ref": "Project"} and tags["stage"] == {"Ref": "Stage"}, name


@pytest.fixture(scope="module")
def authorization():
    """AWS's service authorization data (each action's resource types and condition keys), as
    the IAM linter parliament ships it: what moto, which evaluates no policy, cannot show."""
    # Read as a data file: importing parliament needs pkg_resources, which setuptools 81 dropped.
    data = json.loads(distribution("parliament").locate_file("parliament/iam_definition.json").read_text())
    return {
        f"{service['prefix']}:{action['privilege']}": (service, action)
        for service in data
        for action in service["privileges"]
    }


# What Fn::GetAtt <resource>.Arn gives, by the resource's type, as resource_text writes ARNs.
ARN_OF_TYPE = {"AWS::S3::Bucket": "arn:x:s3:::x", "AWS::IAM::Role": "arn:x:iam::x:role/x"}


def resource_text(resource, template: dict) -> str:
    """A statement's resource as a plain ARN: variables and wildcards made "x"."""

    def arn_of(name: str) -> str:
        return ARN_OF_TYPE[template["Resources"][name]["Type"]]

    if resource == "*":
        return "x"
    if "Fn::GetAtt" in resource:
        return arn_of(resource["Fn::GetAtt"][0])
    text = resource["Fn::Sub"] if isinstance(resource["Fn::Sub"], str) else resource["Fn::Sub"][0]
    text = re.sub(r"\$\{(\w+)\.Arn\}", lambda found: arn_of(found.group(1)), text)
    return re.sub(r"\$\{[^}]*\}|\*", "x", text)


def covers(resource: str, arn_pattern: str) -> bool:
    """Whether a resource ARN is of the type an ARN pattern like "...:endpoint/${EndpointName}" names."""
    pattern = ".+".join(re.escape(part) for part in re.split(r"\$\{[^}]*\}", arn_pattern))
    return resource == "x" or re.fullmatch(pattern, resource) is not None


def test_each_action_is_allowed_on_every_resource_aws_requires_for_it(template, authorization):
    """The service authorization reference marks the resources an action needs (CreateEndpoint:
    the endpoint *and* the endpoint config); a policy granting fewer is refused on AWS. Checked
    for SageMaker's actions, whose ARNs this comparison reads exactly."""
    by_policy = {}
    for name, statement in statements(template):
        # A resource policy (it has a Principal) grants on its own resource only: not checked here.
        if statement["Effect"] == "Allow" and "Principal" not in statement:
            by_policy.setdefault(name, []).append(statement)
    for name, allowed in by_policy.items():
        for statement in allowed:
            for action in (a for a in as_list(statement["Action"]) if a.startswith("sagemaker:")):
                service, known = authorization[action]
                for needed in (r["resource_type"] for r in known["resource_types"]):
                    if not needed.endswith("*"):
                        continue
                    arn = next(r["arn"] for r in service["resources"] if r["resource"] == needed[:-1])
                    granted = [
                        resource_text(resource, template)
                        for other in allowed
                        if action in as_list(other["Action"])
                        for resource in as_list(other["Resource"])
                    ]
                    assert any(covers(r, arn) for r in granted), f"{name}: {action} also needs {arn}"


def test_each_condition_key_is_one_the_action_supports(template, authorization):
    """A condition key an action does not support never matches, which silently denies."""
    for name, statement in statements(template):
        if statement["Effect"] != "Allow" or "Principal" in statement:  # identity policies
            continue
        keys = {key for test in statement.get("Condition", {}).values() for key in test}
        for action in as_list(statement["Action"]):
            service, known = authorization[action]
            supported = {key for r in known["resource_types"] for key in r["condition_keys"]}
            for key in keys - supported:
                assert key.startswith(("aws:", "iam:", "cloudwatch:namespace")) or (
                    key.startswith("sagemaker:ResourceTag") and service["prefix"] == "sagemaker"
                ), f"{name} {statement.get('Sid', '')}: {action} does not support the condition {key}"


def test_only_the_pipeline_jobs_write_where_models_and_reports_live(template):
    """A GitHub role writes step code and input data only (and staging, its smoke tests' evidence);
    models and evaluation.json (what an approval approves) are written by the execution role, that
    is by the pipeline's jobs."""
    allowed = {"arn:x:s3:::x/x/code/", "arn:x:s3:::x/x/data/"}
    for role in [*GITHUB_ROLES, "EndpointDeployPolicy"]:  # the deploy roles' shared policy
        own = allowed | ({"arn:x:s3:::x/x/staging-evidence/"} if role == "StagingDeployRole" else set())
        for name, statement in statements({"Resources": {role: template["Resources"][role]}}):
            writes = [a for a in as_list(statement["Action"]) if a in {"s3:PutObject", "s3:DeleteObject"}]
            if writes and statement["Effect"] == "Allow":
                places = [resource_text(r, template) for r in as_list(statement["Resource"])]
                assert all(p.startswith(tuple(own)) for p in places), f"{name} may write {places}"


def test_only_the_staging_deploy_role_writes_the_evidence_prod_deploys_on(template):
    """The audit forged staging evidence with a commit. It lives in the bucket now: the staging role
    may write it, the bucket policy denies every other principal (the execution role may write the
    rest of the bucket), and the deploy roles (prod's, from its own account too) may read it."""
    evidence = "${ArtifactBucket.Arn}/${Project}/staging-evidence/*"
    staging_role = template["Resources"]["StagingDeployRole"]["Properties"]["RoleName"]["Fn::Sub"]
    (deny,) = [
        statement
        for name, statement in statements(template)
        if name == "ArtifactBucketPolicy"
        and statement["Effect"] == "Deny"
        and statement["Principal"] == "*"
        and {"s3:PutObject", "s3:DeleteObject"} <= set(as_list(statement["Action"]))
    ]
    assert deny["Resource"] == {"Fn::Sub": evidence}
    exempt = deny["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]["Fn::Sub"]
    assert exempt == f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role/{staging_role}"
    writers = [
        name
        for name, statement in statements(template)
        if statement["Effect"] == "Allow"
        and "s3:PutObject" in as_list(statement["Action"])
        and any(
            resource_text(r, template).endswith(("/x", "/staging-evidence/x"))
            for r in as_list(statement["Resource"])
        )
    ]
    assert "StagingDeployRole" in writers and "ProdDeployRole" not in writers
    readers = [
        statement
        for name, statement in statements(template)
        if name == "EndpointDeployPolicy"
        and statement["Effect"] == "Allow"
        and statement["Action"] == "s3:GetObject"
    ]
    (read,) = readers
    assert read["Resource"]["Fn::Sub"][0].endswith("/${Project}/*")


def test_models_and_code_are_written_once_and_never_deleted_by_any_principal(template):
    """The audit replaced an approved model.tar.gz, which an endpoint reads again on every scale-out.
    Where Evaluate keeps the models versions are registered with, and where upsert stages the code
    that serves them, the bucket policy refuses a write without If-None-Match (S3 then refuses an
    existing key) and any delete (after which the key could be written again), to every principal.
    moto applies no bucket policy: read from the template; the writers' If-None-Match is tested
    where they write (evaluate.py, StepCode.upload)."""
    slug = project().slug
    assert project().kept_models_key == f"{slug}/models"
    assert StepCode(project().steps_dir, "b", slug).script("evaluate.py").startswith(f"s3://b/{slug}/code/")
    kept = {"${ArtifactBucket.Arn}/${Project}/models/*", "${ArtifactBucket.Arn}/${Project}/code/*"}
    denials = {
        tuple(sorted(as_list(statement["Action"]))): statement
        for name, statement in statements(template)
        if name == "ArtifactBucketPolicy" and statement["Effect"] == "Deny" and statement["Principal"] == "*"
    }
    writes = denials[("s3:PutObject",)]
    assert {r["Fn::Sub"] for r in writes["Resource"]} == kept
    assert writes["Condition"] == {"Null": {"s3:if-none-match": "true"}}
    deletes = denials[("s3:DeleteObject", "s3:DeleteObjectVersion")]
    assert {r["Fn::Sub"] for r in deletes["Resource"]} == kept and "Condition" not in deletes


def test_evaluate_keeps_the_model_write_once_and_uses_no_other_bytes_under_its_name(model_tarball):
    """The writer's half of the rule above (moto refuses an existing key to If-None-Match as S3
    does): the same model trained again finds its copy; other bytes under its sha256 are refused."""
    keep_model = load_step("evaluate").keep_model
    sha256 = hashlib.sha256(model_tarball.read_bytes()).hexdigest()
    with mock_aws():
        s3 = boto3.client("s3", region_name=aws.region())
        aws.create_bucket("kept")
        url = keep_model(model_tarball, sha256, "s3://kept/p/models")
        assert url == f"s3://kept/p/models/{sha256}/model.tar.gz"
        assert s3.get_object(Bucket="kept", Key=f"p/models/{sha256}/model.tar.gz")["Body"].read() == (
            model_tarball.read_bytes()
        )
        assert keep_model(model_tarball, sha256, "s3://kept/p/models") == url  # trained again
        s3.put_object(Bucket="kept", Key=f"q/models/{sha256}/model.tar.gz", Body=b"planted")
        with pytest.raises(SystemExit, match="holds other bytes than its name says: someone else wrote it"):
            keep_model(model_tarball, sha256, "s3://kept/q/models")


def test_a_deploy_role_cannot_reach_another_stage_or_project(template):
    """Tags only at creation (re-tagging prod's model would let staging delete it), autoscaling
    only of SageMaker variants, alarms named so that no other project's stage matches."""
    deploy = template["Resources"]["EndpointDeployPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    for statement in deploy:
        actions = as_list(statement["Action"])
        conditions = statement.get("Condition", {}).get("StringEquals", {})
        if "sagemaker:AddTags" in actions:
            creations = {"CreateModel", "CreateEndpointConfig", "CreateEndpoint"}
            assert set(conditions["sagemaker:TaggingAction"]) <= creations
            assert conditions["aws:RequestTag/stage"] == "${aws:PrincipalTag/stage}"
        writes = [a for a in actions if a.startswith("application-autoscaling:") and ":Describe" not in a]
        if writes:
            assert conditions["application-autoscaling:service-namespace"] == "sagemaker", writes
        for resource in as_list(statement["Resource"]):
            text = resource_text(resource, template)
            if ":alarm:" in text and "TargetTracking" not in text:
                name = resource["Fn::Sub"].rsplit(":alarm:", 1)[1]
                # Ours, or (to delete only) one of the two exact names earlier releases used.
                stage = "${Project}-${!aws:PrincipalTag/stage}"
                earlier = {f"{stage}-5xx", f"{stage}-latency"}
                assert name == f"{stage}/*" or (
                    name in earlier and "cloudwatch:PutMetricAlarm" not in actions
                ), name


def test_approval_dispatch_posts_model_approved_to_this_repository(template):
    resources = template["Resources"]
    rule = resources["ApprovedRule"]["Properties"]
    assert rule["EventPattern"]["detail"]["ModelApprovalStatus"] == ["Approved"]
    assert '"event_type": "model-approved"' in rule["Targets"][0]["InputTransformer"]["InputTemplate"]
    assert resources["DispatchDestination"]["Properties"]["InvocationEndpoint"] == {
        "Fn::Sub": "https://api.github.com/repos/${GitHubRepository}/dispatches"
    }
    promote = yaml.safe_load((project().root / ".github" / "workflows" / "promote.yml").read_text())
    assert promote[True]["repository_dispatch"]["types"] == ["model-approved"]  # YAML 1.1 reads `on` as True
    assert template["Parameters"]["GitHubDispatchToken"]["NoEcho"] is True


def test_an_execution_that_ends_is_dispatched_only_when_tuning_trials_need_attaching(template):
    rule = template["Resources"].get("ExecutionEndedRule")
    if not TUNING:
        assert rule is None, "no workflow listens for pipeline-finished without tuning"
        return
    assert rule["Condition"] == "Dispatch"
    detail = rule["Properties"]["EventPattern"]["detail"]
    assert detail["currentPipelineExecutionStatus"] == ["Succeeded", "Failed", "Stopped"]
    assert detail["pipelineArn"] == [
        {"Fn::Sub": "arn:${AWS::Partition}:sagemaker:${AWS::Region}:${AWS::AccountId}:pipeline/${Project}"}
    ]
    target = rule["Properties"]["Targets"][0]
    assert target["InputTransformer"]["InputPathsMap"] == {"arn": "$.detail.pipelineExecutionArn"}
    assert '"event_type": "pipeline-finished"' in target["InputTransformer"]["InputTemplate"]
    trials = yaml.safe_load((project().root / ".github" / "workflows" / "trials.yml").read_text())
    assert trials[True]["repository_dispatch"]["types"] == ["pipeline-finished"]


# --- `mlops bootstrap` on moto -------------------------------------------------------------------


@pytest.fixture
def account(use_project):
    """An empty moto account with a GitHub OIDC provider (which moto's CloudFormation cannot make),
    for a project whose github_repository is a real one (bootstrap refuses copier's placeholder)."""
    if project().github_repository.startswith(f"{bootstrap.PLACEHOLDER_OWNER}/"):
        use_project(github_repository=f"acme-data/{project().slug}")
    with mock_aws():
        boto3.client("iam").create_open_id_connect_provider(
            Url=f"https://{OIDC}", ClientIDList=["sts.amazonaws.com"]
        )
        yield aws.caller_account()


def trusted_subject(role: str) -> str:
    document = boto3.client("iam").get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
    return document["Statement"][0]["Condition"]["StringEquals"][f"{OIDC}:sub"]


@pytest.mark.filterwarnings("ignore:Tried to parse AWS")  # the skipped resource types above
def test_bootstrap_creates_what_the_project_uses_and_prints_the_variables(mlops, account):
    code, out, _ = mlops("bootstrap")

    assert code == 0
    assert f"stack {stack_name()} created in account {account}" in out
    for variable in (
        "AWS_REGION",
        "MLOPS_BUILD_ROLE_ARN",
        "MLOPS_STAGING_ROLE_ARN",
        "MLOPS_PROD_ROLE_ARN",
        "MLOPS_OBSERVER_ROLE_ARN",
    ):
        assert re.search(rf"^  {variable} +\S", out, re.MULTILINE), variable
    assert "MLOPS_PROD_READ_ROLE_ARN" not in out  # only a prod account has a reader
    assert f"gh variable set AWS_REGION --repo {project().github_repository} --body {aws.region()}" in out
    repository = f"repo:{project().github_repository}"
    assert trusted_subject(f"{project().slug}-github-build") == f"{repository}:ref:refs/heads/main"
    assert trusted_subject(f"{project().slug}-github-staging") == f"{repository}:environment:staging"
    assert trusted_subject(f"{project().slug}-github-prod") == f"{repository}:environment:production"
    # The bucket and execution role are the ones the pipeline and the deploys use by default.
    target = aws.resolve_target()
    assert (
        boto3.client("iam").get_role(RoleName=target.role_arn.rsplit("/", 1)[1])["Role"]["Arn"]
        == target.role_arn
    )
    encryption = boto3.client("s3").get_bucket_encryption(Bucket=target.bucket)[
        "ServerSideEncryptionConfiguration"
    ]
    assert encryption["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"

    code, out, _ = mlops("bootstrap")
    assert code == 0
    assert f"stack {stack_name()} unchanged" in out


@pytest.mark.filterwarnings("ignore:Tried to parse AWS")
def test_two_accounts_the_main_stack_leaves_prod_to_the_prod_account(mlops, account):
    code, out, _ = mlops("bootstrap", "--prod-account", "210987654321")

    assert code == 0
    assert "ProdRoleArn" not in stacks.outputs(stack_name())
    assert "  MLOPS_BUILD_ROLE_ARN" in out and "  MLOPS_PROD_ROLE_ARN" not in out
    assert f"run `mlops bootstrap --main-account {account}` there" in out
    roles = {role["RoleName"] for role in boto3.client("iam").list_roles()["Roles"]}
    assert f"{project().slug}-github-prod" not in roles

    # A later run changes what it is given and keeps the rest, the prod account among it.
    code, out, _ = mlops("bootstrap", "--default-branch", "trunk")
    assert code == 0 and f"stack {stack_name()} updated" in out
    # (moto re-creates only resources that Ref a changed parameter, not those that !Sub it: compare
    # the stack's parameters, not the build role's trust.)
    deployed = stacks.deployed_parameters(stacks.describe_stack(stack_name()))
    assert (deployed["DefaultBranch"], deployed["ProdAccountId"]) == ("trunk", "210987654321")


@pytest.mark.filterwarnings("ignore:Tried to parse AWS")
def test_two_accounts_the_prod_stack_makes_only_what_prod_needs(mlops, account):
    code, out, _ = mlops("bootstrap", "--main-account", "210987654321")

    assert code == 0
    assert "  MLOPS_PROD_ROLE_ARN" in out and "  MLOPS_BUILD_ROLE_ARN" not in out
    roles = {role["RoleName"] for role in boto3.client("iam").list_roles()["Roles"]}
    assert roles == {
        f"{project().slug}-github-prod",
        f"{project().slug}-sagemaker-execution",
        f"{project().slug}-prod-reader",
        f"{project().slug}-scheduler",  # what prod's batch schedule starts pipelines as
    }
    # drift.yml's observer in the main account, and nothing else, may read prod through the reader.
    reader = boto3.client("iam").get_role(RoleName=f"{project().slug}-prod-reader")["Role"]
    trust = reader["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Condition"] == {
        "ArnEquals": {"aws:PrincipalArn": f"arn:aws:iam::210987654321:role/{project().slug}-github-observer"}
    }
    assert "  MLOPS_PROD_READ_ROLE_ARN" in out
    # Its endpoints read model artifacts from the main account's bucket.
    policy = boto3.client("iam").get_role_policy(
        RoleName=f"{project().slug}-sagemaker-execution", PolicyName="sagemaker-execution"
    )["PolicyDocument"]
    if isinstance(policy, str):  # moto keeps a policy that CloudFormation made as a Python repr
        policy = ast.literal_eval(policy)
    resources = [s["Resource"] for s in policy["Statement"] if s.get("Sid") == "RegistryModels"]
    assert resources == [f"arn:aws:s3:::{project().slug}-210987654321-{aws.region()}/*"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--prod-account", "12345"], "--prod-account '12345': expected a 12-digit AWS account id"),
        (["--main-account", "123456789012"], "is the account these credentials are in"),
        (["--prod-account", "210987654321", "--main-account", "210987654322"], "not both"),
        (["--approval-dispatch"], "--approval-dispatch needs a GitHub token in MLOPS_DISPATCH_TOKEN"),
    ],
)
def test_bad_options_are_refused_before_anything_is_created(mlops, account, monkeypatch, args, message):
    monkeypatch.delenv("MLOPS_DISPATCH_TOKEN", raising=False)
    code, _, err = mlops("bootstrap", *args)

    assert code == 1
    assert message in err and err.strip().count("\n") == 0
    assert stacks.describe_stack(stack_name()) is None


def test_copiers_suggested_repository_is_refused_before_anything_is_created(mlops, account, use_project):
    assert "github_repository" not in PRESETS[PRESET], "the preset must keep copier's suggestion"
    use_project(github_repository=ANSWERS["github_repository"])  # as copied, before the team sets it
    code, _, err = mlops("bootstrap")
    assert code == 1 and "still the placeholder" in err and err.strip().count("\n") == 0
    assert stacks.describe_stack(stack_name()) is None


def test_a_bucket_left_from_an_earlier_bootstrap_is_named_before_anything_is_created(mlops, account):
    aws.create_bucket(aws.resolve_target().bucket)
    code, _, err = mlops("bootstrap")

    assert code == 1
    assert f"bucket {aws.resolve_target().bucket} already exists" in err
    assert stacks.describe_stack(stack_name()) is None


def test_every_pipeline_records_its_runs_where_the_execution_role_may(template):
    """A pipeline's experiment (the SDK's default is named after the pipeline) is created by the
    execution role on the pipeline's first run: outside the role's experiments, that run fails."""
    granted = [
        resource["Fn::Sub"].replace("${Project}", project().slug)
        for name, statement in statements(template)
        if name == "SageMakerExecutionRole" and "sagemaker:CreateExperiment" in as_list(statement["Action"])
        for resource in as_list(statement["Resource"])
    ]
    for kind in project().pipelines:
        built = build(offline=True, kind=kind)
        config = built.definition().get("PipelineExperimentConfig")
        if config is None:  # the pipeline records no experiment
            continue
        name = config["ExperimentName"]
        if name == {"Get": "Execution.PipelineName"}:
            name = built.name
        arn = f"arn:aws:sagemaker:{aws.region()}:123456789012:experiment/{name}"
        assert any(covers(arn, pattern) for pattern in granted), f"{built.name} records experiment {name}"


def grants(template: dict, resource: str, action: str, arn: str) -> bool:
    """Whether a statement of the template's `resource` (a role or policy) allows `action` on `arn`
    (account 123456789012; a deploy policy's ${aws:PrincipalTag/stage} is either stage)."""
    names = {"${Project}": re.escape(project().slug), "${!aws:PrincipalTag/stage}": "(staging|prod)"}

    def pattern(text: str) -> str:
        parts = re.split(r"(\$\{[^}]*\}|\*)", text)
        return "".join(
            names.get(part, ".*" if part == "*" else "[^:/]+")
            if part.startswith(("${", "*"))
            else re.escape(part)
            for part in parts
            if part
        )

    return any(
        re.fullmatch(pattern(r["Fn::Sub"] if isinstance(r["Fn::Sub"], str) else r["Fn::Sub"][0]), arn)
        for name, statement in statements(template)
        if name == resource and statement["Effect"] == "Allow" and action in as_list(statement["Action"])
        for r in as_list(statement["Resource"])
        if isinstance(r, dict) and "Fn::Sub" in r
    )


def test_the_roles_reach_every_pipeline_and_stage_schedule_the_project_has(template):
    """build.yml's role creates and starts each pipeline (build; batch, notebooks, monitor when the
    project has them), the scheduler role starts each, and the deploy roles manage each stage
    schedule's stack and schedule, and find the pipeline it starts."""
    prefix = f"arn:aws:sagemaker:{aws.region()}:123456789012"
    for kind in project().pipelines:
        pipeline = f"{prefix}:pipeline/{project().pipeline_name_of(kind)}"
        assert grants(template, "BuildRole", "sagemaker:UpdatePipeline", pipeline), f"{kind}: upsert"
        assert grants(template, "SchedulerRole", "sagemaker:StartPipelineExecution", pipeline), (
            f"{kind}: start"
        )
    for schedule in (s for s in stage_schedules.ALL if s.kind in project().pipelines):
        for stage in STAGES:
            name = schedule.stack_name(stage)
            stack = f"arn:aws:cloudformation:{aws.region()}:123456789012:stack/{name}/1"
            assert grants(template, "EndpointDeployPolicy", "cloudformation:UpdateStack", stack), name
            rule = f"arn:aws:scheduler:{aws.region()}:123456789012:schedule/default/{name}"
            assert grants(template, "EndpointDeployPolicy", "scheduler:UpdateSchedule", rule), name
            pipeline = f"{prefix}:pipeline/{project().pipeline_name_of(schedule.kind)}"
            assert grants(template, "EndpointDeployPolicy", "sagemaker:DescribePipeline", pipeline), name
