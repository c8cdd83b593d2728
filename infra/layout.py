"""The local stack's layout, read from template.yaml, the one description of it.

From the template:
- the queues: every SQS queue with a RedrivePolicy, named after its logical id (ScansQueue is
  "scans"), with its dead-letter queue ("scans-dlq"), its attributes and maxReceiveCount;
- the routes: the receiver's EVENT_ROUTES, with queue names for the queues it names
  (`${ScansQueue}` is "scans");
- the consumers: every function with an SQS event, by its binary
  (Metadata.BuildProperties.Binary), and the queue it reads;
- the one secret, the one bucket (the payload bucket) and the one table (the idempotency
  table), by logical id, and the table's key schema;
- each function's Environment, resolved for a local stack: a small resolver of the intrinsic
  functions the template uses (Ref, Fn::Sub, Fn::If, Fn::GetAtt, Fn::Equals, Fn::Not, ...),
  against the parameters' defaults and overrides and the local resources' ids (`!Ref
  PayloadBucket` is the local bucket's name, `!GetAtt ScansQueue.QueueName` the queue's).

`local_stack.py create` builds the stack from this and writes stack.json into the state
directory; `load_state` reads it back for every other tool, and shell scripts read it with
`layout.py value STATE_DIR PATH` and `layout.py consumers STATE_DIR` (see `main`).
"""

from __future__ import annotations

import json
import pathlib
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
STACK_FILE = "stack.json"
ROUTES_VARIABLE = "EVENT_ROUTES"


class LayoutError(Exception):
    """The template says something this reader does not understand."""


# ---- the template as data -------------------------------------------------------------------


class TemplateLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short forms: `!Ref X` is {"Ref": "X"}, `!GetAtt A.B` is
    {"Fn::GetAtt": ["A", "B"]}, `!Condition C` is {"Condition": "C"}, any other `!Name V` is
    {"Fn::Name": V}."""


def _short_form(loader: TemplateLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "Condition":
        return {"Condition": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


TemplateLoader.add_multi_constructor("!", _short_form)


def load_template(path: pathlib.Path | str = TEMPLATE) -> dict[str, Any]:
    with open(path) as source:
        return yaml.load(source, Loader=TemplateLoader)  # noqa: S506 (a SafeLoader subclass)


# ---- intrinsic functions --------------------------------------------------------------------

NO_VALUE = object()
"""What `Ref AWS::NoValue` resolves to: the key that holds it is dropped."""


class Resolver:
    """Resolves intrinsic functions against parameter values, conditions and the ids of
    resources that exist (`physical`: logical id -> {"Ref": ..., "Arn": ..., ...})."""

    def __init__(self, template: dict[str, Any], parameters: dict[str, str] | None = None,
                 physical: dict[str, dict[str, str]] | None = None,
                 pseudo: dict[str, str] | None = None):
        self.template = template
        self.parameters = parameter_values(template, parameters or {})
        self.physical = physical or {}
        self.pseudo = {
            "AWS::Region": "us-east-1", "AWS::AccountId": "123456789012",
            "AWS::StackName": "local", "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com", **(pseudo or {}),
        }
        self._conditions: dict[str, bool] = {}

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            definitions = self.template.get("Conditions", {})
            if name not in definitions:
                raise LayoutError(f"no condition {name!r} in the template")
            self._conditions[name] = bool(self.resolve(definitions[name]))
        return self._conditions[name]

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        return self.attribute(name, "Ref")

    def attribute(self, name: str, attribute: str) -> str:
        try:
            return self.physical[name][attribute]
        except KeyError:
            raise LayoutError(f"{name}.{attribute} is not known locally") from None

    def sub(self, text: str, variables: dict[str, Any]) -> str:
        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(self.resolve(variables[name]))
            if "." in name and not name.startswith("AWS::"):
                return self.attribute(*name.split(".", 1))
            return str(self.ref(name))
        return re.sub(r"\$\{([^}]+)\}", value, text)

    def resolve(self, value: Any) -> Any:  # noqa: PLR0911, PLR0912 (one branch per function)
        if isinstance(value, list):
            return [item for item in map(self.resolve, value) if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) != 1 or not is_function(next(iter(value))):
            resolved = {key: self.resolve(item) for key, item in value.items()}
            return {key: item for key, item in resolved.items() if item is not NO_VALUE}
        (function, argument), = value.items()
        if function == "Ref":
            return self.ref(argument)
        if function == "Condition":
            return self.condition(argument)
        if function == "Fn::GetAtt":
            name, attribute = argument
            return self.attribute(name, attribute)
        if function == "Fn::Sub":
            if isinstance(argument, str):
                return self.sub(argument, {})
            return self.sub(argument[0], argument[1])
        if function == "Fn::If":
            name, when_true, when_false = argument
            return self.resolve(when_true if self.condition(name) else when_false)
        if function == "Fn::Equals":
            left, right = (self.resolve(item) for item in argument)
            return str(left) == str(right)
        if function == "Fn::Not":
            return not self.resolve(argument[0])
        if function == "Fn::And":
            return all(self.resolve(item) for item in argument)
        if function == "Fn::Or":
            return any(self.resolve(item) for item in argument)
        if function == "Fn::Join":
            separator, items = argument
            return separator.join(str(item) for item in self.resolve(items))
        if function == "Fn::Select":
            index, items = argument
            return self.resolve(items)[int(self.resolve(index))]
        raise LayoutError(f"{function} is not supported by infra/layout.py")


def is_function(key: str) -> bool:
    return key in ("Ref", "Condition") or key.startswith("Fn::")


def parameter_values(template: dict[str, Any], overrides: dict[str, str]) -> dict[str, str]:
    """Every parameter's value as CloudFormation passes it (a string): the override, else the
    default. A parameter with neither is left out (referring to it fails)."""
    declared = template.get("Parameters", {})
    unknown = set(overrides) - set(declared)
    if unknown:
        raise LayoutError(f"no such parameter in the template: {', '.join(sorted(unknown))}")
    values = {}
    for name, declaration in declared.items():
        if name in overrides:
            values[name] = str(overrides[name])
        elif "Default" in declaration:
            values[name] = cfn_string(declaration["Default"])
    return values


def cfn_string(value: Any) -> str:
    """A scalar as CloudFormation reads it: YAML's true is "true", 180 is "180"."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# ---- the layout -----------------------------------------------------------------------------


def kebab(name: str) -> str:
    """ScansConsumer -> scans-consumer."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", name).lower()


@dataclass
class Queue:
    logical_id: str
    name: str
    dead_letter_logical_id: str
    dead_letter_name: str
    properties: dict[str, Any]
    dead_letter_properties: dict[str, Any]
    consumer: str | None = None  # the binary of the function it feeds

    @property
    def fifo(self) -> bool:
        return cfn_string(self.properties.get("FifoQueue", False)) == "true"


@dataclass
class Function:
    logical_id: str
    binary: str
    environment: dict[str, Any]
    queue: str | None = None  # the logical id of the queue of its SQS event, if any


@dataclass
class Layout:
    template: dict[str, Any]
    queues: list[Queue]
    functions: list[Function]
    routes: dict[str, str] = field(default_factory=dict)  # route key -> queue name

    @classmethod
    def from_template(cls, path: pathlib.Path | str = TEMPLATE) -> Layout:
        template = load_template(path)
        resources = template.get("Resources", {})
        queues = []
        for logical_id, resource in resources.items():
            properties = resource.get("Properties", {})
            if resource.get("Type") != "AWS::SQS::Queue" or "RedrivePolicy" not in properties:
                continue
            if not logical_id.endswith("Queue"):
                raise LayoutError(f"{logical_id}: a queue's logical id must end in Queue")
            target = properties["RedrivePolicy"].get("deadLetterTargetArn", {})
            dead_letter = target.get("Fn::GetAtt", [None])[0] if isinstance(target, dict) else None
            if dead_letter not in resources:
                raise LayoutError(f"{logical_id}: deadLetterTargetArn must be !GetAtt <queue>.Arn")
            name = kebab(logical_id.removesuffix("Queue"))
            queues.append(Queue(logical_id, name, dead_letter, f"{name}-dlq", properties,
                                resources[dead_letter].get("Properties", {})))
        functions = []
        for logical_id, resource in resources.items():
            if resource.get("Type") != "AWS::Serverless::Function":
                continue
            binary = resource.get("Metadata", {}).get("BuildProperties", {}).get("Binary")
            if not binary:
                raise LayoutError(f"{logical_id}: no Metadata.BuildProperties.Binary")
            properties = resource.get("Properties", {})
            function = Function(logical_id, binary,
                                properties.get("Environment", {}).get("Variables", {}))
            for event in properties.get("Events", {}).values():
                if event.get("Type") == "SQS":
                    function.queue = event["Properties"]["Queue"]["Fn::GetAtt"][0]
            functions.append(function)
        by_logical_id = {queue.logical_id: queue for queue in queues}
        for function in functions:
            if function.queue:
                if function.queue not in by_logical_id:
                    raise LayoutError(f"{function.logical_id} reads {function.queue}, "
                                      "which is not a queue with a dead-letter queue")
                by_logical_id[function.queue].consumer = function.binary
        layout = cls(template, queues, functions)
        layout.routes = layout._routes()
        return layout

    def _routes(self) -> dict[str, str]:
        routers = [f for f in self.functions if ROUTES_VARIABLE in f.environment]
        if len(routers) != 1:
            raise LayoutError(f"expected one function with {ROUTES_VARIABLE}, found "
                              f"{[f.logical_id for f in routers]}")
        names = {queue.logical_id: {"Ref": queue.name} for queue in self.queues}
        text = Resolver(self.template, physical=names).resolve(
            routers[0].environment[ROUTES_VARIABLE])
        routes = json.loads(text)
        unknown = set(routes.values()) - {queue.name for queue in self.queues}
        if unknown:
            raise LayoutError(f"{ROUTES_VARIABLE} routes to {unknown}, not queues of the template")
        return routes

    def queue(self, name: str) -> Queue:
        for queue in self.queues:
            if queue.name == name:
                return queue
        raise KeyError(name)

    def function(self, binary: str) -> Function:
        for function in self.functions:
            if function.binary == binary:
                return function
        raise KeyError(binary)

    def route(self, event_type: str) -> str:
        """The queue an event type goes to: the exact key, else the longest family
        (`subscription.*`), else `*` -- the receiver's rule."""
        if event_type in self.routes:
            return self.routes[event_type]
        families = [key for key in self.routes
                    if key.endswith(".*") and event_type.startswith(key[:-1])]
        if families:
            return self.routes[max(families, key=len)]
        return self.routes["*"]

    def only(self, resource_type: str) -> str:
        """The logical id of the template's one resource of this type."""
        found = [logical_id for logical_id, resource in self.template["Resources"].items()
                 if resource.get("Type") == resource_type]
        if len(found) != 1:
            raise LayoutError(f"expected one {resource_type}, found {found}")
        return found[0]

    def secret_logical_id(self) -> str:
        return self.only("AWS::SecretsManager::Secret")

    def bucket_logical_id(self) -> str:
        """The payload bucket: claim-check objects and the archive."""
        return self.only("AWS::S3::Bucket")

    def table_logical_id(self) -> str:
        """The consumers' idempotency table."""
        return self.only("AWS::DynamoDB::Table")

    def properties(self, logical_id: str) -> dict[str, Any]:
        return self.template["Resources"][logical_id].get("Properties", {})

    def resolver(self, parameters: dict[str, str] | None = None,
                 physical: dict[str, dict[str, str]] | None = None,
                 region: str = "us-east-1") -> Resolver:
        return Resolver(self.template, parameters, physical, {"AWS::Region": region})

    def environment(self, function: Function, resolver: Resolver) -> dict[str, str]:
        """The function's Environment.Variables, resolved; AWS::NoValue drops a variable."""
        resolved = resolver.resolve(function.environment)
        return {key: cfn_string(value) for key, value in resolved.items()}


# ---- the state a local stack leaves ---------------------------------------------------------


def load_state(state_dir: pathlib.Path | str) -> dict[str, Any]:
    """stack.json of a local stack (see local_stack.py)."""
    return json.loads((pathlib.Path(state_dir) / STACK_FILE).read_text())


def queue_urls(state: dict[str, Any]) -> dict[str, str]:
    """Every queue's URL by name, each queue followed by its dead-letter queue."""
    urls = {}
    for queue in state["queues"]:
        urls[queue["name"]] = queue["url"]
        urls[queue["dead_letter"]["name"]] = queue["dead_letter"]["url"]
    return urls


def main(argv: list[str] | None = None) -> None:
    """For shell scripts, which read stack.json through this instead of parsing it:

        layout.py value STATE_DIR PATH    one value, e.g. secret.value or endpoint
        layout.py consumers STATE_DIR     URL=BINARY per queue with a consumer, one a line
                                          (the event-source runner's --map arguments)
    """
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    value = commands.add_parser("value")
    value.add_argument("state_dir")
    value.add_argument("path")
    consumers = commands.add_parser("consumers")
    consumers.add_argument("state_dir")
    args = parser.parse_args(argv)
    state = load_state(args.state_dir)
    if args.command == "value":
        found: Any = state
        for key in args.path.split("."):
            found = found[int(key)] if isinstance(found, list) else found[key]
        print(found if isinstance(found, str) else json.dumps(found))
    else:
        for queue in state["queues"]:
            if queue["consumer"]:
                print(f"{queue['url']}={queue['consumer']}")


if __name__ == "__main__":
    main()
