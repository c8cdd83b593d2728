"""template.yaml's payload bucket and idempotency table (issues 10 and 11), and who may touch
what in them: the IAM statements are resolved as CloudFormation would for given parameters and
evaluated for the requests the functions make, so a statement that grants too much (or too
little) fails here, not in an AWS account."""

import re

import pytest

import layout

TEMPLATE = layout.load_template()
RESOURCES = TEMPLATE["Resources"]
PARAMETERS = TEMPLATE["Parameters"]
STACK = layout.Layout.from_template()
CONSUMERS = [queue for queue in STACK.queues if queue.consumer]

BUCKET_ARN = "arn:aws:s3:::stack-payloadbucket-1a2b3c"
TABLE_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/stack-IdempotencyTable-XYZ"
DYNAMODB_ACTIONS = ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:PutItem",
                    "dynamodb:UpdateItem", "dynamodb:DeleteItem"]


def queue_name(logical_id):
    """A name as CloudFormation makes them: stack, logical id, a random suffix. (The suffix
    of one is never a prefix of another's name: scans vs scans-dlq is tested below.)"""
    return f"stack-{logical_id}-R4ND0M"


def physical():
    ids = {"PayloadBucket": {"Ref": "stack-payloadbucket-1a2b3c", "Arn": BUCKET_ARN},
           "IdempotencyTable": {"Ref": "stack-IdempotencyTable-XYZ", "Arn": TABLE_ARN},
           "WebhookSecret": {"Ref": "arn:aws:secretsmanager:us-east-1:123456789012:secret:s"}}
    for queue in STACK.queues:
        for logical_id in (queue.logical_id, queue.dead_letter_logical_id):
            name = queue_name(logical_id)
            ids[logical_id] = {
                "Ref": f"https://sqs.us-east-1.amazonaws.com/123456789012/{name}",
                "Arn": f"arn:aws:sqs:us-east-1:123456789012:{name}", "QueueName": name}
    for function in STACK.functions:
        ids[f"{function.logical_id}LogGroup"] = {
            "Ref": f"/aws/lambda/stack/{function.binary}",
            "Arn": f"arn:aws:logs:us-east-1:123456789012:log-group:{function.binary}:*"}
    return ids


def resolver(**parameters):
    return layout.Resolver(TEMPLATE, parameters, physical())


# ---- a small IAM evaluator ------------------------------------------------------------------


def glob(pattern, value, case_sensitive=True):
    """IAM's wildcards: `*` any run of characters (`/` included), `?` one character."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, 0 if case_sensitive else re.IGNORECASE) is not None


def as_list(value):
    return value if isinstance(value, list) else [value]


def conditions_hold(condition, context):
    for operator, keys in (condition or {}).items():
        for key, patterns in keys.items():
            values = context.get(key, [])
            if operator == "ForAllValues:StringLike":
                # Every value of the key must match a pattern; no value at all also holds.
                holds = all(any(glob(p, v) for p in as_list(patterns)) for v in values)
            elif operator == "StringLike":
                # The request's value must match a pattern; a request without the key fails.
                holds = any(glob(p, v) for p in as_list(patterns) for v in values)
            else:
                raise AssertionError(f"{operator}: not a condition this evaluator knows")
            if not holds:
                return False
    return True


def allowed(statements, action, resource, context=None):
    """Whether identity statements (Allow only, no Deny here) allow the request."""
    for statement in statements:
        assert statement["Effect"] == "Allow", statement
        assert "NotAction" not in statement and "NotResource" not in statement, statement
        if (any(glob(a, action, case_sensitive=False) for a in as_list(statement["Action"]))
                and any(glob(r, resource) for r in as_list(statement["Resource"]))
                and conditions_hold(statement.get("Condition"), context or {})):
            return True
    return False


def receiver_statements(**parameters):
    policies = resolver(**parameters).resolve(RESOURCES["Receiver"]["Properties"]["Policies"])
    return [statement for policy in policies for statement in policy["Statement"]]


def role_statements(role, **parameters):
    policies = resolver(**parameters).resolve(RESOURCES[role]["Properties"]["Policies"])
    return [statement for policy in policies for statement in policy["PolicyDocument"][
        "Statement"]]


def consumer_statements(queue, **parameters):
    return role_statements(STACK.function(queue.consumer).logical_id + "Role", **parameters)


def granted_actions(statements, service):
    return {action for statement in statements for action in as_list(statement["Action"])
            if action.startswith(f"{service}:")}


def objects(*keys):
    return [f"{BUCKET_ARN}/{key}" for key in keys]


ARCHIVE_KEY = "archive/2026/03/20/scan.created/evt_01HXYZ.json"
QUARANTINED_KEY = "archive/2026/03/20/_quarantined/r-1"


def claim_key(queue_logical_id):
    return f"payloads/{queue_name(queue_logical_id)}/8476a536-e9f4-11e8-9739-2dfe598c3fa8"


# ---- the receiver ---------------------------------------------------------------------------


def test_the_receiver_may_only_put_objects_under_archive_and_payloads():
    statements = receiver_statements()
    assert granted_actions(statements, "s3") == {"s3:PutObject"}
    writable = objects(ARCHIVE_KEY, QUARANTINED_KEY,
                       *(claim_key(q.logical_id) for q in STACK.queues))
    for resource in writable:
        assert allowed(statements, "s3:PutObject", resource), resource
    for resource in objects("other/x", "archived/x", "payload/x", "x") + [BUCKET_ARN]:
        assert not allowed(statements, "s3:PutObject", resource), resource
    for action in ("s3:GetObject", "s3:DeleteObject", "s3:ListBucket", "s3:PutObjectAcl",
                   "s3:PutBucketPolicy", "s3:*"):
        for resource in [*writable, BUCKET_ARN]:
            assert not allowed(statements, action, resource), (action, resource)
    assert granted_actions(statements, "dynamodb") == set()


def test_with_the_archive_off_the_receiver_may_only_write_claim_checks():
    statements = receiver_statements(Archive="false")
    assert not allowed(statements, "s3:PutObject", objects(ARCHIVE_KEY)[0])
    assert allowed(statements, "s3:PutObject", objects(claim_key("ScansQueue"))[0])


# ---- the consumers --------------------------------------------------------------------------


@pytest.mark.parametrize("queue", CONSUMERS, ids=lambda q: q.consumer)
def test_a_consumer_may_only_read_its_own_queues_claim_checks(queue):
    statements = consumer_statements(queue)
    assert granted_actions(statements, "s3") == {"s3:GetObject", "s3:ListBucket"}
    own = objects(claim_key(queue.logical_id))[0]
    assert allowed(statements, "s3:GetObject", own)
    others = [claim_key(q.logical_id) for q in STACK.queues if q is not queue]
    others += [claim_key(queue.dead_letter_logical_id), ARCHIVE_KEY, QUARANTINED_KEY,
               f"payloads/{queue_name(queue.logical_id)}x/r-1", "payloads/r-1"]
    for resource in objects(*others):
        assert not allowed(statements, "s3:GetObject", resource), resource
    # No delete: not even its own claim-check objects (they expire by lifecycle instead).
    for action in ("s3:DeleteObject", "s3:PutObject"):
        assert not allowed(statements, action, own), action
        assert not allowed(statements, action, BUCKET_ARN), action
    assert not allowed(statements, "s3:ListBucket", own)


@pytest.mark.parametrize("queue", CONSUMERS, ids=lambda q: q.consumer)
def test_a_consumer_may_list_its_own_queues_claim_checks_only(queue):
    """s3:ListBucket is what makes S3 answer 404 NoSuchKey, not 403 AccessDenied, for a
    missing claim-check object; S3 checks it with the object's key as s3:prefix."""
    statements = consumer_statements(queue)

    def may_list(*prefix):
        return allowed(statements, "s3:ListBucket", BUCKET_ARN,
                       {"s3:prefix": list(prefix)})

    own_prefix = f"payloads/{queue_name(queue.logical_id)}/"
    assert may_list(own_prefix)
    assert may_list(claim_key(queue.logical_id))
    others = [f"payloads/{queue_name(q.logical_id)}/" for q in STACK.queues if q is not queue]
    others += [f"payloads/{queue_name(queue.dead_letter_logical_id)}/",
               f"{own_prefix[:-1]}x/", own_prefix[:-1], "payloads/", "archive/", ARCHIVE_KEY,
               QUARANTINED_KEY, ""]
    for prefix in others:
        assert not may_list(prefix), prefix
    assert not may_list(), "a listing of the whole bucket (no prefix)"
    for resource in (objects(claim_key(queue.logical_id))[0], f"{BUCKET_ARN}-other"):
        assert not allowed(statements, "s3:ListBucket", resource, {"s3:prefix": [own_prefix]})


@pytest.mark.parametrize("queue", CONSUMERS, ids=lambda q: q.consumer)
def test_a_consumer_may_only_touch_its_own_idempotency_records(queue):
    statements = consumer_statements(queue)
    assert granted_actions(statements, "dynamodb") == set(DYNAMODB_ACTIONS)
    environment = STACK.environment(STACK.function(queue.consumer), resolver())
    namespace = environment["IDEMPOTENCY_NAMESPACE"]
    assert namespace == queue.consumer

    def may(action, *keys):
        return allowed(statements, action, TABLE_ARN, {"dynamodb:LeadingKeys": list(keys)})

    for action in DYNAMODB_ACTIONS:
        assert may(action, f"{namespace}#evt_01HXYZ"), action
        for other in CONSUMERS:
            if other is not queue:
                assert not may(action, f"{other.consumer}#evt_01HXYZ"), (action, other.consumer)
        assert not may(action, "evt_01HXYZ"), action  # no namespace
        assert not may(action, f"{namespace}evt_01HXYZ"), action  # no `#`
        assert not may(action, f"{namespace}-x#evt_01HXYZ"), action
    # A batch read is allowed only when every key is its own.
    assert may("dynamodb:BatchGetItem", f"{namespace}#a", f"{namespace}#b")
    other = next(q for q in CONSUMERS if q is not queue).consumer
    assert not may("dynamodb:BatchGetItem", f"{namespace}#a", f"{other}#b")
    for action in ("dynamodb:Scan", "dynamodb:Query", "dynamodb:DeleteTable",
                   "dynamodb:BatchWriteItem"):
        assert not may(action, f"{namespace}#a"), action
    assert not allowed(statements, "dynamodb:GetItem", TABLE_ARN + "-other",
                       {"dynamodb:LeadingKeys": [f"{namespace}#a"]})


@pytest.mark.parametrize("queue", CONSUMERS, ids=lambda q: q.consumer)
def test_without_idempotency_a_consumer_has_no_table(queue):
    statements = consumer_statements(queue, Idempotency="false")
    assert granted_actions(statements, "dynamodb") == set()
    environment = STACK.environment(STACK.function(queue.consumer),
                                    resolver(Idempotency="false"))
    assert "IDEMPOTENCY_TABLE" not in environment
    assert RESOURCES["IdempotencyTable"].get("Condition") is None, "the records are kept"


def test_the_variables_go_to_the_functions_that_use_them():
    for function in STACK.functions:
        environment = STACK.environment(function, resolver(IdempotencyTtlSeconds="7200"))
        if function.queue:  # a consumer
            assert environment["IDEMPOTENCY_TABLE"] == "stack-IdempotencyTable-XYZ"
            assert environment["IDEMPOTENCY_TTL_SECONDS"] == "7200"
            assert environment["IDEMPOTENCY_NAMESPACE"] == function.binary
            assert not {"PAYLOAD_BUCKET", "ARCHIVE_ENABLED"} & set(environment)
        else:
            assert environment["PAYLOAD_BUCKET"] == "stack-payloadbucket-1a2b3c"
            assert environment["ARCHIVE_ENABLED"] == "true"
            assert not [key for key in environment if key.startswith("IDEMPOTENCY_")]


# ---- the bucket -----------------------------------------------------------------------------


def bucket(**parameters):
    return resolver(**parameters).resolve(RESOURCES["PayloadBucket"]["Properties"])


def test_the_bucket_is_encrypted_private_and_owner_enforced():
    properties = bucket()
    assert properties["BucketEncryption"] == {"ServerSideEncryptionConfiguration": [
        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}
    assert properties["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True}
    assert properties["OwnershipControls"] == {
        "Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    assert "BucketName" not in properties, "a generated name: no clash between stacks"
    assert "Condition" not in RESOURCES["PayloadBucket"], "the claim-check needs it always"
    # The archive outlives the stack.
    assert RESOURCES["PayloadBucket"]["DeletionPolicy"] == "Retain"
    assert RESOURCES["PayloadBucket"]["UpdateReplacePolicy"] == "Retain"


def test_the_bucket_refuses_every_request_without_tls():
    policy = resolver().resolve(RESOURCES["PayloadBucketPolicy"]["Properties"])
    assert policy["Bucket"] == "stack-payloadbucket-1a2b3c"
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert (statement["Effect"], statement["Principal"], statement["Action"]) == (
        "Deny", "*", "s3:*")
    assert sorted(statement["Resource"]) == [BUCKET_ARN, f"{BUCKET_ARN}/*"]
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def expiry_by_prefix(**parameters):
    rules = bucket(**parameters)["LifecycleConfiguration"]["Rules"]
    assert all(rule["Status"] == "Enabled" for rule in rules)
    return {rule["Prefix"]: int(rule["ExpirationInDays"]) for rule in rules}


def test_the_lifecycle_expires_the_archive_and_the_claim_checks():
    assert expiry_by_prefix() == {"archive/": 365, "payloads/": 15}
    assert expiry_by_prefix(ArchiveRetentionDays="30")["archive/"] == 30
    parameter = PARAMETERS["ArchiveRetentionDays"]
    assert (parameter["Type"], parameter["Default"], parameter["MinValue"]) == ("Number", 365, 1)


def test_a_claim_check_object_outlives_every_message_that_can_point_to_it():
    longest_seconds = max(
        int(properties.get("MessageRetentionPeriod", 345600))
        for queue in STACK.queues for properties in (queue.properties,
                                                     queue.dead_letter_properties))
    assert longest_seconds == 14 * 86400
    assert expiry_by_prefix()["payloads/"] * 86400 > longest_seconds


# ---- the table ------------------------------------------------------------------------------


def test_the_table_is_on_demand_keyed_by_id_with_a_ttl():
    table = RESOURCES["IdempotencyTable"]["Properties"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert table["AttributeDefinitions"] == [{"AttributeName": "id", "AttributeType": "S"}]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    assert table["SSESpecification"] == {"SSEEnabled": True}
    ttl = PARAMETERS["IdempotencyTtlSeconds"]
    assert (ttl["Type"], ttl["Default"], ttl["MinValue"]) == ("Number", 604800, 3600)


@pytest.mark.parametrize("name", ["Archive", "Idempotency"])
def test_the_switches_are_on_by_default(name):
    parameter = PARAMETERS[name]
    assert (parameter["Type"], parameter["Default"], parameter["AllowedValues"]) == (
        "String", "true", ["true", "false"])


# ---- outputs --------------------------------------------------------------------------------


def test_the_event_routes_output_is_the_receivers_event_routes():
    """The operator tool routes replays with the output: it must be the very same text."""
    declared = RESOURCES["Receiver"]["Properties"]["Environment"]["Variables"]["EVENT_ROUTES"]
    output = TEMPLATE["Outputs"]["EventRoutes"]["Value"]
    assert output == declared
    assert resolver().resolve(output) == resolver().resolve(declared)
    assert '"scan.*":"https://sqs.' in resolver().resolve(output)


def test_the_bucket_and_the_table_are_outputs():
    outputs = TEMPLATE["Outputs"]
    assert resolver().resolve(outputs["PayloadBucket"]["Value"]) == "stack-payloadbucket-1a2b3c"
    assert resolver().resolve(outputs["IdempotencyTable"]["Value"]) == (
        "stack-IdempotencyTable-XYZ")
