"""template.yaml as a reviewer reads it: what cfn-lint cannot know. The deploy-time Rules,
evaluated for given parameters; where the alarms go; what the metric filters count, tried on
the receiver's log lines and the consumers' EMF lines; the receiver's timeouts and secret; the
blast-radius settings as SAM translates them; and the near-copies, which must differ in their
family's name only."""

import copy
import json
import re

import pytest

import layout

TEMPLATE = layout.load_template()
RESOURCES = TEMPLATE["Resources"]
PARAMETERS = TEMPLATE["Parameters"]

# What the receiver logs in $.fields.outcome, and its status.
OUTCOMES = {
    "queued": 200, "quarantined": 200, "invalid_signature": 400,
    "signature_unconfirmed": 503, "secret_not_configured": 503, "secret_unavailable": 503,
    "queue_unavailable": 503, "deadline": 503, "archive_unavailable": 503,
    "claim_check_unavailable": 503, "too_large": 413,
    "method_not_allowed": 405, "bad_request": 400,
}
# Which outcomes each of the receiver's metrics counts.
OUTCOME_METRICS = {
    "InvalidSignatures": {"invalid_signature", "signature_unconfirmed"},
    "SecretUnavailable": {"secret_unavailable", "secret_not_configured"},
    "StorageUnavailable": {
        "queue_unavailable", "deadline", "archive_unavailable", "claim_check_unavailable",
    },
    "QuarantinedWebhooks": {"quarantined"},
}


def of_type(resource_type):
    return {logical_id: resource for logical_id, resource in RESOURCES.items()
            if resource["Type"] == resource_type}


ALARMS = of_type("AWS::CloudWatch::Alarm")
METRIC_FILTERS = of_type("AWS::Logs::MetricFilter")
FUNCTIONS = of_type("AWS::Serverless::Function")


# ---- Rules ----------------------------------------------------------------------------------


def rule_value(expression, parameters):
    """One of CloudFormation's rule functions, evaluated the way its documentation says."""
    if isinstance(expression, list):
        return [rule_value(item, parameters) for item in expression]
    if not isinstance(expression, dict):
        return str(expression)
    (function, argument), = expression.items()
    if function == "Ref":
        return parameters[argument]
    if function == "Fn::And":
        assert 2 <= len(argument) <= 10, "Fn::And takes 2 to 10 conditions"
        return all(rule_value(item, parameters) for item in argument)
    if function == "Fn::Or":
        assert 2 <= len(argument) <= 10, "Fn::Or takes 2 to 10 conditions"
        return any(rule_value(item, parameters) for item in argument)
    if function == "Fn::Not":
        (condition,) = argument
        return not rule_value(condition, parameters)
    if function == "Fn::Equals":
        left, right = rule_value(argument, parameters)
        return left == right
    if function == "Fn::Contains":
        values, value = rule_value(argument, parameters)
        return value in values
    if function == "Fn::EachMemberEquals":
        values, value = rule_value(argument, parameters)
        return all(item == value for item in values)
    if function == "Fn::EachMemberIn":
        values, allowed = rule_value(argument, parameters)
        return all(item in allowed for item in values)
    if function == "Fn::RefAll":
        return [value for name, value in parameters.items()
                if PARAMETERS[name]["Type"] == argument]
    raise AssertionError(f"{function} is not a rule function this test knows")


def parameter_errors(parameters):
    """CloudFormation's own checks of the values: MinValue, MaxValue, AllowedValues."""
    errors = []
    for name, value in parameters.items():
        declaration = PARAMETERS[name]
        if declaration["Type"] == "Number":
            number = float(value)
            if "MinValue" in declaration and number < declaration["MinValue"]:
                errors.append(f"{name} below MinValue")
            if "MaxValue" in declaration and number > declaration["MaxValue"]:
                errors.append(f"{name} above MaxValue")
        allowed = declaration.get("AllowedValues")
        if allowed and value not in [layout.cfn_string(item) for item in allowed]:
            errors.append(f"{name} not in AllowedValues")
    return errors


def refusals(**overrides):
    """The AssertDescription of every assertion the values fail (CloudFormation stops there,
    before it creates anything)."""
    parameters = layout.parameter_values(TEMPLATE, {k: str(v) for k, v in overrides.items()})
    assert parameter_errors(parameters) == []
    failed = []
    for rule in TEMPLATE.get("Rules", {}).values():
        if "RuleCondition" in rule and not rule_value(rule["RuleCondition"], parameters):
            continue
        for assertion in rule["Assertions"]:
            if not rule_value(assertion["Assert"], parameters):
                failed.append(" ".join(assertion["AssertDescription"].split()))
    return failed


def test_a_batch_over_10_without_a_window_is_refused_with_a_message():
    assert refusals(ConsumerBatchSize=11, ConsumerBatchWindowSeconds=0) == [
        "ConsumerBatchSize over 10 needs a batching window: set ConsumerBatchWindowSeconds to 1 "
        "or more, or ConsumerBatchSize to 10 or less."]


@pytest.mark.parametrize("batch_size,window", [(10, 0), (11, 1), (10000, 5), (1, 0)])
def test_batches_of_10_or_with_a_window_are_accepted(batch_size, window):
    assert refusals(ConsumerBatchSize=batch_size, ConsumerBatchWindowSeconds=window) == []


def test_the_defaults_pass_the_rules():
    assert refusals() == []


def test_every_batch_size_is_refused_exactly_when_lambda_would_refuse_it():
    for batch_size in range(1, PARAMETERS["ConsumerBatchSize"]["MaxValue"] + 1):
        for window in (0, 1, 300):
            refused = bool(refusals(ConsumerBatchSize=batch_size,
                                    ConsumerBatchWindowSeconds=window))
            assert refused == (batch_size > 10 and window == 0), (batch_size, window)


# ---- alarms ---------------------------------------------------------------------------------


@pytest.mark.parametrize("topic,expected", [
    ("", "the topic the stack made"),
    ("arn:aws:sns:us-east-1:123456789012:ops", "arn:aws:sns:us-east-1:123456789012:ops"),
])
def test_every_alarm_notifies_the_given_topic_or_the_stacks_own(topic, expected):
    resolver = layout.Resolver(TEMPLATE, {"AlarmTopicArn": topic},
                               {"AlarmTopic": {"Ref": "the topic the stack made"}})
    assert resolver.condition(RESOURCES["AlarmTopic"]["Condition"]) == (topic == "")
    assert ALARMS
    for name, alarm in ALARMS.items():
        assert resolver.resolve(alarm["Properties"].get("AlarmActions")) == [expected], name
    assert resolver.resolve(TEMPLATE["Outputs"]["AlarmTopicArn"]["Value"]) == expected


MISSING = object()


def json_field(line, path):
    value = line
    for key in path.split("."):
        value = value.get(key, MISSING) if isinstance(value, dict) else MISSING
    return value


def filter_term_holds(term, line):
    """One term of a JSON filter pattern: `$.a.b = "x"`, `$.a > 0` or `$.a NOT EXISTS`."""
    if found := re.fullmatch(r'\$\.([\w.]+) = "([^"]*)"', term):
        return json_field(line, found.group(1)) == found.group(2)
    if found := re.fullmatch(r"\$\.([\w.]+) > (\d+)", term):
        value = json_field(line, found.group(1))
        return isinstance(value, (int, float)) and value > int(found.group(2))
    if found := re.fullmatch(r"\$\.([\w.]+) NOT EXISTS", term):
        return json_field(line, found.group(1)) is MISSING
    raise AssertionError(f"not a JSON term this test knows: {term!r}")


def metric_filter_counts(pattern, line):
    """Whether a JSON metric filter of the form `{ (term) || (term) ... }` or
    `{ (term) && (term) ... }` counts a log line."""
    body = pattern.strip()
    assert body.startswith("{") and body.endswith("}"), pattern
    body = body[1:-1]
    assert not ("||" in body and "&&" in body), f"|| and && mixed: {pattern}"
    joiner, combine = ("&&", all) if "&&" in body else ("||", any)
    terms = [term.strip().strip("()").strip() for term in body.split(joiner)]
    return combine(filter_term_holds(term, line) for term in terms)


def webhook_line(outcome):
    """The receiver's per-request line in Lambda's JSON log: the `webhook` event, in the
    Lambda runtime's span of the invocation."""
    return {"level": "INFO",
            "fields": {"message": "webhook", "outcome": outcome, "status": OUTCOMES[outcome],
                       "bytes": 123, "duration_us": 456, "event_type": "scan.created",
                       "event_id": "evt_1"},
            "span": {"requestId": "r-1", "name": "Lambda runtime invoke"},
            "spans": [{"requestId": "r-1", "name": "Lambda runtime invoke"}]}


RECEIVER_METRIC_FILTERS = {
    name: metric_filter for name, metric_filter in METRIC_FILTERS.items()
    if metric_filter["Properties"]["LogGroupName"] == {"Ref": "ReceiverLogGroup"}}
CONSUMERS = {name: function for name, function in FUNCTIONS.items() if name != "Receiver"}


def test_the_metric_filters_count_the_outcomes_of_the_webhook_line():
    counted = {}
    for name, metric_filter in RECEIVER_METRIC_FILTERS.items():
        properties = metric_filter["Properties"]
        selectors = re.findall(r'\$\.([\w.]+) = "([^"]*)"', properties["FilterPattern"])
        assert selectors and {path for path, _ in selectors} == {"fields.outcome"}, name
        assert {outcome for _, outcome in selectors} <= set(OUTCOMES), name
        (transformation,) = properties["MetricTransformations"]
        assert transformation["MetricNamespace"] == {"Ref": "MetricsNamespace"}, name
        counted[transformation["MetricName"]] = {
            outcome for outcome in OUTCOMES
            if metric_filter_counts(properties["FilterPattern"], webhook_line(outcome))}
    assert counted == OUTCOME_METRICS


def consumer_batch_lines(failures, counts):
    """What a consumer prints for one batch (shared/src/consumer/metrics.rs): its counts as
    one EMF document without dimensions, FailedRecords among them, then one FailedRecords
    document per Reason; and the warn line of each failed record in its JSON log."""
    def emf(dimensions, values):
        return {"_aws": {"Timestamp": 1_774_020_600_000, "CloudWatchMetrics": [{
                    "Namespace": "3QPR/Webhooks", "Dimensions": [dimensions],
                    "Metrics": [{"Name": name, "Unit": "Count"} for name in values]}]},
                **values}
    counts = dict(counts)
    if failures:
        counts["FailedRecords"] = sum(failures.values())
    lines = [emf([], counts)]
    lines += [{**emf(["Reason"], {"FailedRecords": count}), "Reason": reason}
              for reason, count in failures.items()]
    lines += [{"level": "WARN", "fields": {"message": "record failed; SQS will deliver it again",
                                           "reason": reason, "message_id": "m-1"}}
              for reason, count in failures.items() for _ in range(count)]
    return lines


def published(transformation, lines, pattern):
    """What a metric filter adds to its metric for these log lines."""
    total = 0
    for line in lines:
        if metric_filter_counts(pattern, line):
            value = transformation["MetricValue"]
            total += json_field(line, value[2:]) if value.startswith("$.") else int(value)
    return total


@pytest.mark.parametrize("failures,counts,expected", [
    ({"payload_missing": 2, "handler": 1}, {"Scans": 7}, 3),
    ({"deadline": 10}, {}, 10),
    ({}, {"Scans": 9, "Duplicates": 1}, 0),
])
def test_each_consumers_failed_records_are_counted_once_from_its_own_log(
        failures, counts, expected):
    assert CONSUMERS
    metrics = set()
    for name in CONSUMERS:
        (metric_filter,) = [f["Properties"] for f in METRIC_FILTERS.values()
                            if f["Properties"]["LogGroupName"] == {"Ref": f"{name}LogGroup"}]
        (transformation,) = metric_filter["MetricTransformations"]
        assert transformation["MetricNamespace"] == {"Ref": "MetricsNamespace"}, name
        assert transformation["MetricName"] == f"{name}FailedRecords", name
        # Not the consumers' own EMF metrics, which every consumer adds to.
        assert transformation["MetricName"] != "FailedRecords", name
        lines = consumer_batch_lines(failures, counts)
        assert published(transformation, lines, metric_filter["FilterPattern"]) == expected
        metrics.add(transformation["MetricName"])
    assert len(metrics) == len(CONSUMERS)


def test_each_consumers_failed_records_alarm_before_they_reach_its_dead_letter_queue():
    stack = layout.Layout.from_template()
    queues = {queue.consumer: queue for queue in stack.queues if queue.consumer}
    slowest_to_dlq = PARAMETERS["MaxReceiveCount"]["Default"] * min(
        queue.properties["VisibilityTimeout"] for queue in queues.values())
    for name, function in CONSUMERS.items():
        (alarm,) = [a["Properties"] for a in ALARMS.values()
                    if a["Properties"]["MetricName"] == f"{name}FailedRecords"]
        assert alarm["Namespace"] == {"Ref": "MetricsNamespace"}, name
        assert (alarm["Statistic"], alarm["Threshold"], alarm["ComparisonOperator"]) == (
            "Sum", 1, "GreaterThanOrEqualToThreshold"), name
        assert alarm["TreatMissingData"] == "notBreaching", name
        assert alarm["Period"] * alarm["EvaluationPeriods"] < slowest_to_dlq, name
        assert function["Metadata"]["BuildProperties"]["Binary"] in queues, name


def test_every_alarm_on_a_receiver_metric_has_its_metric_filter():
    produced = {f["Properties"]["MetricTransformations"][0]["MetricName"]
                for f in METRIC_FILTERS.values()}
    alarmed = {alarm["Properties"]["MetricName"] for alarm in ALARMS.values()
               if alarm["Properties"]["Namespace"] == {"Ref": "MetricsNamespace"}}
    assert alarmed == produced


def dimension(alarm, name):
    (found,) = [d["Value"] for d in alarm["Properties"].get("Dimensions", []) if d["Name"] == name]
    return found


def alarmed(namespace, metric, dimension_name):
    """The resources with an alarm on this metric: logical id -> the alarm's properties."""
    found = {}
    for alarm in ALARMS.values():
        properties = alarm["Properties"]
        if properties["Namespace"] == namespace and properties["MetricName"] == metric:
            value = dimension(alarm, dimension_name)
            target = value.get("Ref") or value["Fn::GetAtt"][0]
            assert target in RESOURCES, target
            found[target] = properties
    return found


def test_errors_of_every_function_and_throttles_of_the_receiver_raise_an_alarm():
    assert set(alarmed("AWS/Lambda", "Errors", "FunctionName")) == set(FUNCTIONS)
    assert set(alarmed("AWS/Lambda", "Throttles", "FunctionName")) == {"Receiver"}


def test_each_queue_has_an_age_alarm_and_each_dead_letter_queue_a_depth_alarm():
    stack = layout.Layout.from_template()
    consumed = [queue for queue in stack.queues if queue.consumer]
    ages = alarmed("AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName")
    # Every queue a dead-letter queue backs: the consumers' and unrouted. The dead-letter
    # queues have none: their depth alarm always fires first (the template says why).
    assert set(ages) == {queue.logical_id for queue in stack.queues}
    assert "UnroutedQueue" in ages
    for properties in ages.values():
        assert properties["Threshold"] == {"Ref": "QueueAgeAlarmSeconds"}
    assert PARAMETERS["QueueAgeAlarmSeconds"]["Default"] == 900
    visible = alarmed("AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName")
    assert {queue.dead_letter_logical_id for queue in consumed} <= set(visible)
    assert "UnroutedQueue" in visible


# ---- the receiver ---------------------------------------------------------------------------


def receiver_environment(**parameters):
    resolver = layout.Resolver(TEMPLATE, parameters, {
        "WebhookSecret": {"Ref": "the-secret"},
        "PayloadBucket": {"Ref": "the-bucket"},
        **{q: {"Ref": q} for q in ("ScansQueue", "ConversationsQueue", "AccountQueue",
                                   "UnroutedQueue")}})
    return resolver.resolve(RESOURCES["Receiver"]["Properties"]["Environment"]["Variables"])


def test_the_receiver_gets_its_configuration():
    assert receiver_environment() == {
        "WEBHOOK_SECRET_ID": "the-secret",
        "EVENT_ROUTES": '{"scan.*":"ScansQueue","conversation.*":"ConversationsQueue",'
                        '"qpr_code.*":"AccountQueue","subscription.*":"AccountQueue",'
                        '"*":"UnroutedQueue"}',
        "AWS_CALL_TIMEOUT_MS": "3000",
        "SECRET_REFRESH_SECONDS": "300",
        "FUNCTION_TIMEOUT_SECONDS": "10",
        "PAYLOAD_BUCKET": "the-bucket",
        "ARCHIVE_ENABLED": "true",
    }
    assert receiver_environment(Archive="false")["ARCHIVE_ENABLED"] == "false"
    local = receiver_environment(LocalEndpointUrl="http://127.0.0.1:5000",
                                 ExistingSecretArn="arn:aws:secretsmanager:x")
    assert local["AWS_ENDPOINT_URL"] == "http://127.0.0.1:5000"
    assert local["WEBHOOK_SECRET_ID"] == "arn:aws:secretsmanager:x"


def test_the_receiver_is_told_its_own_timeout_and_every_allowed_one_fits_two_calls():
    properties = RESOURCES["Receiver"]["Properties"]
    timeout = {"Ref": "ReceiverTimeoutSeconds"}
    assert properties["Timeout"] == timeout
    assert properties["Environment"]["Variables"]["FUNCTION_TIMEOUT_SECONDS"] == timeout
    parameter = PARAMETERS["ReceiverTimeoutSeconds"]
    assert parameter["Default"] == 10
    call_ms = int(properties["Environment"]["Variables"]["AWS_CALL_TIMEOUT_MS"])
    assert 2 * call_ms + 500 <= parameter["MinValue"] * 1000, "the receiver would refuse it"
    assert parameter["MaxValue"] < 30, "API Gateway gives up after 30 s"


def test_the_stack_never_creates_a_usable_key():
    secret = RESOURCES["WebhookSecret"]["Properties"]
    assert "SecretString" not in secret
    # Letters and digits only: no underscore, so never the whsec_ prefix.
    assert secret["GenerateSecretString"]["ExcludePunctuation"] is True
    assert secret["GenerateSecretString"]["PasswordLength"] >= 32
    text = json.dumps(RESOURCES)
    assert not re.search(r"whsec_[A-Za-z0-9]", text), "a whsec_ value in the template"


@pytest.mark.parametrize("reserved,expected", [("0", None), ("50", "50")])
def test_reserved_concurrency_zero_means_none(reserved, expected):
    resolver = layout.Resolver(TEMPLATE, {"ReceiverReservedConcurrency": reserved})
    properties = resolver.resolve(
        {"Value": RESOURCES["Receiver"]["Properties"]["ReservedConcurrentExecutions"]})
    assert properties.get("Value") == expected
    assert PARAMETERS["ReceiverReservedConcurrency"]["Default"] == 50


def test_each_consumers_event_source_is_capped_and_reports_item_failures():
    parameter = PARAMETERS["ConsumerMaximumConcurrency"]
    assert (parameter["Default"], parameter["MinValue"], parameter["MaxValue"]) == (10, 2, 1000)
    consumers = {name: f for name, f in FUNCTIONS.items() if name != "Receiver"}
    assert consumers
    for name, function in consumers.items():
        (event,) = function["Properties"]["Events"].values()
        assert event["Type"] == "SQS", name
        properties = event["Properties"]
        assert properties["ScalingConfig"] == {
            "MaximumConcurrency": {"Ref": "ConsumerMaximumConcurrency"}}, name
        assert properties["FunctionResponseTypes"] == ["ReportBatchItemFailures"], name


def test_queues_hide_a_message_six_times_as_long_as_a_consumer_runs():
    timeout = TEMPLATE["Globals"]["Function"]["Timeout"]
    for queue in layout.Layout.from_template().queues:
        assert queue.properties["VisibilityTimeout"] >= 6 * timeout, queue.name


# ---- as SAM translates it -------------------------------------------------------------------


@pytest.fixture(scope="module")
def translated(monkeypatch_module):
    """The CloudFormation that SAM makes of the template (samtranslator, as `sam deploy`)."""
    from samtranslator.translator.transform import transform

    monkeypatch_module.setenv("AWS_DEFAULT_REGION", "us-east-1")
    template = copy.deepcopy(TEMPLATE)
    template["Globals"]["Function"]["CodeUri"] = "s3://bucket/code.zip"  # what package does

    class ManagedPolicies:  # IAM's names of the managed policies SAM may attach
        @staticmethod
        def load():
            return {name: f"arn:aws:iam::aws:policy/service-role/{name}" for name in (
                "AWSLambdaBasicExecutionRole", "AWSLambdaSQSQueueExecutionRole")}

    return transform(template, {}, ManagedPolicies())


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def test_the_http_api_keeps_its_logical_id_and_is_throttled(translated):
    resources = translated["Resources"]
    apis = [name for name, r in resources.items() if r["Type"] == "AWS::ApiGatewayV2::Api"]
    assert apis == ["ServerlessHttpApi"], "a new API would change the URL 3QPR posts to"
    (stage,) = [r for r in resources.values() if r["Type"] == "AWS::ApiGatewayV2::Stage"]
    assert stage["Properties"]["DefaultRouteSettings"] == {
        "ThrottlingRateLimit": {"Ref": "ApiThrottlingRateLimit"},
        "ThrottlingBurstLimit": {"Ref": "ApiThrottlingBurstLimit"}}
    assert (PARAMETERS["ApiThrottlingRateLimit"]["Default"],
            PARAMETERS["ApiThrottlingBurstLimit"]["Default"]) == (500, 1000)
    assert "ServerlessHttpApi" in translated["Outputs"]["WebhookUrl"]["Value"]["Fn::Sub"]


def test_every_function_logs_json_to_its_own_group_through_globals(translated):
    logging = TEMPLATE["Globals"]["Function"]["LoggingConfig"]
    for name, function in FUNCTIONS.items():
        assert set(function["Properties"]["LoggingConfig"]) == {"LogGroup"}, name
        merged = translated["Resources"][name]["Properties"]["LoggingConfig"]
        assert merged == {**logging, "LogGroup": {"Ref": f"{name}LogGroup"}}, name


def test_the_rules_reach_cloudformation(translated):
    assert translated["Rules"] == TEMPLATE["Rules"]


# ---- the near-copies ------------------------------------------------------------------------

KEPT = ["WebhookSecret", "ScansQueue", "ScansDeadLetterQueue", "ConversationsQueue",
        "ConversationsDeadLetterQueue", "AccountQueue", "AccountDeadLetterQueue",
        "UnroutedQueue", "UnroutedDeadLetterQueue", "ReceiverLogGroup", "Receiver",
        "InvalidSignatureMetricFilter", "InvalidSignatureAlarm", "ScansConsumer",
        "ConversationsConsumer", "AccountConsumer", "ScansConsumerRole",
        "ConversationsConsumerRole", "AccountConsumerRole", "ScansConsumerLogGroup",
        "ConversationsConsumerLogGroup", "AccountConsumerLogGroup", "ScansDeadLetterAlarm",
        "ConversationsDeadLetterAlarm", "AccountDeadLetterAlarm", "UnroutedAlarm",
        "PayloadBucket", "IdempotencyTable"]
OUTPUTS = ["WebhookUrl", "WebhookSecretArn", "AlarmTopicArn", "PayloadBucket",
           "IdempotencyTable", "EventRoutes"] + [
    f"{family}{kind}Url" for kind in ("Queue", "DeadLetterQueue")
    for family in ("Scans", "Conversations", "Account", "Unrouted")]


def test_existing_logical_ids_and_outputs_stay():
    assert set(KEPT) <= set(RESOURCES)
    assert sorted(TEMPLATE["Outputs"]) == sorted(OUTPUTS)


FAMILIES = ["Scans", "Conversations", "Account"]


def without_descriptions(value):
    if isinstance(value, dict):
        return {key: without_descriptions(item) for key, item in value.items()
                if key not in ("Description", "AlarmDescription")}
    if isinstance(value, list):
        return [without_descriptions(item) for item in value]
    return value


def family_shape(family, suffixes):
    """The family's resources, descriptions left out, with its name taken out (ScansQueue,
    consume-scans and the event source named Scans all lose it)."""
    shape = {suffix: RESOURCES[f"{family}{suffix}"] for suffix in suffixes}
    text = json.dumps(without_descriptions(shape), sort_keys=True)
    return text.replace(family, "Family").replace(family.lower(), "family")


@pytest.mark.parametrize("suffixes", [
    ["Queue", "DeadLetterQueue"],
    ["ConsumerLogGroup", "ConsumerRole", "Consumer"],
    ["ConsumerErrorsAlarm", "DeadLetterAlarm", "QueueAgeAlarm"],
    ["ConsumerFailedRecordsMetricFilter", "ConsumerFailedRecordsAlarm"],
])
def test_the_families_copies_differ_in_the_name_only(suffixes):
    shapes = {family: family_shape(family, suffixes) for family in FAMILIES}
    for family in FAMILIES[1:]:
        assert shapes[family] == shapes[FAMILIES[0]], (family, suffixes)


def test_unrouteds_age_alarm_is_a_copy_of_a_consumers_queues():
    assert family_shape("Unrouted", ["QueueAgeAlarm"]) == family_shape("Scans", ["QueueAgeAlarm"])
