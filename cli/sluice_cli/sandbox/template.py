"""template.yaml as the sandbox sees it: CloudFormation YAML, Parameters, Conditions, SAM Globals, intrinsics.

The sandbox never re-types a name, an environment variable or an event rule: it reads them from the
template with this module. Short tags (`!Ref`, `!Sub`, `!GetAtt` ...) load into their long form
(`{"Ref": ...}`, `{"Fn::Sub": ...}`); `IntrinsicResolver` turns long forms into values once the
resources they point at exist (physical ids and attributes come from the provisioner).
"""

from __future__ import annotations

import base64
import copy
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

SERVERLESS_FUNCTION = "AWS::Serverless::Function"
SUPPORTED_TRANSFORMS = frozenset({"AWS::Serverless-2016-10-31"})


class TemplateError(ValueError):
    """The template cannot be read, or an intrinsic cannot be resolved."""


class _NoValue:
    """`Ref: AWS::NoValue`: the property (or list item) it stands for is removed."""

    _instance: _NoValue | None = None

    def __new__(cls) -> _NoValue:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NO_VALUE"

    def __bool__(self) -> bool:
        return False


NO_VALUE = _NoValue()


# --------------------------------------------------------------------------------------------------
# YAML with CloudFormation short tags
# --------------------------------------------------------------------------------------------------
class CloudFormationLoader(yaml.SafeLoader):
    """SafeLoader that turns CloudFormation short tags into their long (JSON) form."""


_SHORT_FUNCTIONS = (
    "Sub",
    "If",
    "Equals",
    "Not",
    "And",
    "Or",
    "Join",
    "Select",
    "Split",
    "FindInMap",
    "Base64",
    "ImportValue",
    "GetAZs",
    "Cidr",
    "Length",
    "ToJsonString",
    "Transform",
)


def _construct_node(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    raise TemplateError(f"unexpected YAML node {node!r}")  # pragma: no cover


def _long_form(key: str) -> Callable[[yaml.SafeLoader, yaml.Node], dict[str, Any]]:
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        return {key: _construct_node(loader, node)}

    return construct


def _construct_get_att(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
    value = _construct_node(loader, node)
    if isinstance(value, str):
        logical_id, _, attribute = value.partition(".")
        if not attribute:
            raise TemplateError(f"!GetAtt {value!r}: expected Resource.Attribute")
        return {"Fn::GetAtt": [logical_id, attribute]}
    return {"Fn::GetAtt": value}


def _construct_timestamp_as_text(loader: yaml.SafeLoader, node: yaml.Node) -> str:
    # CloudFormation reads `2010-09-09` as text, never as a date.
    return str(loader.construct_scalar(node))  # type: ignore[arg-type]


def _unknown_tag(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> Any:
    raise TemplateError(f"unknown YAML tag !{tag_suffix} at {node.start_mark}")


CloudFormationLoader.add_constructor("!Ref", _long_form("Ref"))
CloudFormationLoader.add_constructor("!Condition", _long_form("Condition"))
CloudFormationLoader.add_constructor("!GetAtt", _construct_get_att)
for _name in _SHORT_FUNCTIONS:
    CloudFormationLoader.add_constructor(f"!{_name}", _long_form(f"Fn::{_name}"))
CloudFormationLoader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp_as_text)
CloudFormationLoader.add_multi_constructor("!", _unknown_tag)


def load_yaml(text: str) -> Any:
    """Parse CloudFormation YAML (or JSON) text into plain Python with long-form intrinsics."""
    # CloudFormationLoader is a SafeLoader subclass (only the intrinsic tags added): safe.
    return yaml.load(text, Loader=CloudFormationLoader)  # noqa: S506  # nosec B506


# --------------------------------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PseudoParameters:
    """Values of `AWS::*` pseudo parameters in the sandbox."""

    region: str = "us-east-1"
    account_id: str = "123456789012"
    stack_name: str = "sluice"
    partition: str = "aws"
    url_suffix: str = "amazonaws.com"

    @property
    def stack_id(self) -> str:
        return (
            f"arn:{self.partition}:cloudformation:{self.region}:{self.account_id}:"
            f"stack/{self.stack_name}/00000000-0000-0000-0000-000000000000"
        )

    def value(self, name: str) -> Any:
        values: dict[str, Any] = {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::StackName": self.stack_name,
            "AWS::StackId": self.stack_id,
            "AWS::Partition": self.partition,
            "AWS::URLSuffix": self.url_suffix,
            "AWS::NotificationARNs": [],
            "AWS::NoValue": NO_VALUE,
        }
        if name not in values:
            raise TemplateError(f"unknown pseudo parameter {name}")
        return values[name]


@dataclass(frozen=True)
class Resource:
    """One entry of `Resources` (functions with `Globals.Function` already merged in)."""

    logical_id: str
    type: str
    properties: dict[str, Any]
    condition: str | None = None
    depends_on: tuple[str, ...] = ()


@dataclass
class Template:
    path: Path | None
    body: dict[str, Any]
    pseudo: PseudoParameters
    parameters: dict[str, Any]
    conditions: dict[str, bool]
    resources: dict[str, Resource]
    # Resources left out because their Condition is false: logical id -> condition name.
    excluded: dict[str, str] = field(default_factory=dict)

    @property
    def outputs(self) -> dict[str, Any]:
        return dict(self.body.get("Outputs") or {})

    @property
    def mappings(self) -> dict[str, Any]:
        return dict(self.body.get("Mappings") or {})

    def of_type(self, resource_type: str) -> list[Resource]:
        return [r for r in self.resources.values() if r.type == resource_type]

    @property
    def functions(self) -> list[Resource]:
        return self.of_type(SERVERLESS_FUNCTION)

    def condition_holds(self, name: str | None) -> bool:
        if name is None:
            return True
        if name not in self.conditions:
            raise TemplateError(f"unknown condition {name!r}")
        return self.conditions[name]


# --------------------------------------------------------------------------------------------------
# Parameters, Conditions, Globals
# --------------------------------------------------------------------------------------------------
def _parameter_value(name: str, spec: Mapping[str, Any], given: Any) -> Any:
    kind = str(spec.get("Type", "String"))
    if given is None:
        if "Default" not in spec:
            raise TemplateError(f"parameter {name} has no Default and no value was given")
        given = spec["Default"]
    if kind.startswith("AWS::SSM::Parameter"):
        raise TemplateError(f"parameter {name}: type {kind} is not supported by the sandbox")
    if kind in {"CommaDelimitedList", "List<Number>"} or kind.startswith("List<"):
        items = given if isinstance(given, list) else [s.strip() for s in str(given).split(",")]
        return [str(item) for item in items if str(item) != ""]
    text = str(given).lower() if isinstance(given, bool) else str(given)
    allowed = spec.get("AllowedValues")
    if allowed is not None and text not in [str(v) for v in allowed]:
        raise TemplateError(f"parameter {name}={text!r} is not one of {allowed}")
    pattern = spec.get("AllowedPattern")
    if pattern is not None and re.fullmatch(str(pattern), text) is None:
        raise TemplateError(f"parameter {name}={text!r} does not match {pattern}")
    if "MinLength" in spec and len(text) < int(spec["MinLength"]):
        raise TemplateError(f"parameter {name}={text!r} is shorter than {spec['MinLength']}")
    if "MaxLength" in spec and len(text) > int(spec["MaxLength"]):
        raise TemplateError(f"parameter {name}={text!r} is longer than {spec['MaxLength']}")
    if kind == "Number":
        try:
            number = float(text)
        except ValueError as exc:
            raise TemplateError(f"parameter {name}={text!r} is not a number") from exc
        if "MinValue" in spec and number < float(spec["MinValue"]):
            raise TemplateError(f"parameter {name}={text} is below {spec['MinValue']}")
        if "MaxValue" in spec and number > float(spec["MaxValue"]):
            raise TemplateError(f"parameter {name}={text} is above {spec['MaxValue']}")
    return text


def _is_intrinsic(value: Any) -> bool:
    if not isinstance(value, dict) or len(value) != 1:
        return False
    (key,) = value
    return bool(key == "Ref" or str(key).startswith("Fn::"))


def merge_globals(global_properties: Mapping[str, Any], properties: Mapping[str, Any]) -> dict[str, Any]:
    """SAM's Globals rules: maps merge (the resource wins), lists add up (globals first), anything else
    (including an intrinsic function) is replaced by the resource's value."""
    merged: dict[str, Any] = copy.deepcopy(dict(global_properties))
    for key, value in properties.items():
        current = merged.get(key)
        if (
            isinstance(current, dict)
            and isinstance(value, dict)
            and not _is_intrinsic(current)
            and not _is_intrinsic(value)
        ):
            merged[key] = merge_globals(current, value)
        elif isinstance(current, list) and isinstance(value, list):
            merged[key] = [*current, *copy.deepcopy(value)]
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def load_template(
    path: str | Path,
    parameters: Mapping[str, Any] | None = None,
    pseudo: PseudoParameters | None = None,
) -> Template:
    """Read template.yaml: parameters (defaults, overridden by `parameters`), conditions evaluated,
    Globals.Function merged into every AWS::Serverless::Function, resources whose Condition is false
    left out."""
    file = Path(path)
    try:
        body = load_yaml(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise TemplateError(f"{file}: {exc}") from exc
    return template_from_body(body, parameters=parameters, pseudo=pseudo, path=file)


def template_from_body(
    body: Any,
    parameters: Mapping[str, Any] | None = None,
    pseudo: PseudoParameters | None = None,
    path: Path | None = None,
) -> Template:
    if not isinstance(body, dict) or not isinstance(body.get("Resources"), dict):
        raise TemplateError(f"{path or 'template'}: no Resources section")
    transforms = body.get("Transform") or []
    for transform in [transforms] if isinstance(transforms, str) else transforms:
        if transform not in SUPPORTED_TRANSFORMS:
            raise TemplateError(f"transform {transform!r} is not supported by the sandbox")
    pseudo = pseudo or PseudoParameters()
    given = dict(parameters or {})
    declared = dict(body.get("Parameters") or {})
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise TemplateError(f"unknown parameters: {', '.join(unknown)}")
    values = {name: _parameter_value(name, spec or {}, given.get(name)) for name, spec in declared.items()}

    template = Template(path=path, body=body, pseudo=pseudo, parameters=values, conditions={}, resources={})
    template.conditions = _evaluate_conditions(template)

    function_globals = dict((body.get("Globals") or {}).get("Function") or {})
    for logical_id, raw in body["Resources"].items():
        if not isinstance(raw, dict) or "Type" not in raw:
            raise TemplateError(f"resource {logical_id} has no Type")
        condition = raw.get("Condition")
        if condition is not None and not template.condition_holds(condition):
            template.excluded[logical_id] = condition
            continue
        properties = dict(raw.get("Properties") or {})
        if raw["Type"] == SERVERLESS_FUNCTION:
            properties = merge_globals(function_globals, properties)
        depends_on = raw.get("DependsOn") or ()
        template.resources[logical_id] = Resource(
            logical_id=logical_id,
            type=str(raw["Type"]),
            properties=properties,
            condition=condition,
            depends_on=(depends_on,) if isinstance(depends_on, str) else tuple(depends_on),
        )
    return template


def _evaluate_conditions(template: Template) -> dict[str, bool]:
    definitions = dict(template.body.get("Conditions") or {})
    results: dict[str, bool] = {}
    template.conditions = results  # an Fn::If inside an operand sees the conditions evaluated so far
    evaluating: set[str] = set()
    resolver = IntrinsicResolver(template, resources={})

    def condition(name: str) -> bool:
        if name in results:
            return results[name]
        if name not in definitions:
            raise TemplateError(f"unknown condition {name!r}")
        if name in evaluating:
            raise TemplateError(f"condition {name!r} refers to itself")
        evaluating.add(name)
        results[name] = evaluate(definitions[name])
        evaluating.discard(name)
        return results[name]

    def evaluate(expression: Any) -> bool:
        if isinstance(expression, dict) and len(expression) == 1:
            ((key, args),) = expression.items()
            if key == "Condition":
                return condition(str(args))
            if key == "Fn::Equals":
                left, right = (resolver.resolve(a) for a in args)
                return _text(left) == _text(right)
            if key == "Fn::Not":
                return not evaluate(args[0])
            if key == "Fn::And":
                return all(evaluate(a) for a in args)
            if key == "Fn::Or":
                return any(evaluate(a) for a in args)
        if isinstance(expression, bool):
            return expression
        raise TemplateError(f"cannot evaluate condition expression {expression!r}")

    for name in definitions:
        condition(name)
    return results


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


# --------------------------------------------------------------------------------------------------
# Intrinsic functions
# --------------------------------------------------------------------------------------------------
@dataclass
class ResourceRef:
    """What intrinsics see of a created resource: its `Ref` value and its `Fn::GetAtt` attributes."""

    ref: str
    attributes: dict[str, Any] = field(default_factory=dict)


_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


class IntrinsicResolver:
    """Resolves long-form intrinsics against the parameters, the pseudo parameters, the conditions and
    the resources created so far (`resources`: logical id -> ResourceRef)."""

    def __init__(
        self,
        template: Template,
        resources: Mapping[str, ResourceRef],
        imports: Mapping[str, str] | None = None,
    ) -> None:
        self.template = template
        self.resources = resources
        self.imports = dict(imports or {})

    def resolve(self, value: Any) -> Any:
        """The value with every intrinsic replaced; `AWS::NoValue` entries are dropped from maps and
        lists (a top-level NoValue resolves to `NO_VALUE`)."""
        if isinstance(value, dict):
            if _is_intrinsic(value):
                ((key, args),) = value.items()
                return self._function(key, args)
            resolved_map = {k: self.resolve(v) for k, v in value.items()}
            return {k: v for k, v in resolved_map.items() if v is not NO_VALUE}
        if isinstance(value, list):
            resolved_items = [self.resolve(item) for item in value]
            return [item for item in resolved_items if item is not NO_VALUE]
        return value

    # -- the functions ------------------------------------------------------------------------------
    def _function(self, key: str, args: Any) -> Any:
        handlers: dict[str, Callable[[Any], Any]] = {
            "Ref": self._ref,
            "Fn::GetAtt": self._get_att,
            "Fn::Sub": self._sub,
            "Fn::If": self._if,
            "Fn::Join": self._join,
            "Fn::Select": self._select,
            "Fn::Split": self._split,
            "Fn::FindInMap": self._find_in_map,
            "Fn::Base64": self._base64,
            "Fn::ImportValue": self._import_value,
            "Fn::GetAZs": self._get_azs,
            "Fn::Equals": self._equals,
            "Fn::Not": lambda a: not self._truth(a[0]),
            "Fn::And": lambda a: all(self._truth(x) for x in a),
            "Fn::Or": lambda a: any(self._truth(x) for x in a),
        }
        if key not in handlers:
            raise TemplateError(f"intrinsic function {key} is not supported by the sandbox")
        return handlers[key](args)

    def _truth(self, value: Any) -> bool:
        if isinstance(value, dict) and list(value) == ["Condition"]:
            return self.template.condition_holds(str(value["Condition"]))
        resolved = self.resolve(value)
        return resolved is True or _text(resolved) == "true"

    def _equals(self, args: Any) -> bool:
        left, right = (self.resolve(a) for a in args)
        return _text(left) == _text(right)

    def ref_value(self, name: str) -> Any:
        if name.startswith("AWS::"):
            return self.template.pseudo.value(name)
        if name in self.template.parameters:
            return self.template.parameters[name]
        if name in self.resources:
            return self.resources[name].ref
        raise TemplateError(self._missing(name))

    def _ref(self, args: Any) -> Any:
        name = self.resolve(args)
        if not isinstance(name, str):
            raise TemplateError(f"Ref expects a name, got {args!r}")
        return self.ref_value(name)

    def attribute(self, logical_id: str, attribute: str) -> Any:
        if logical_id not in self.resources:
            raise TemplateError(self._missing(logical_id))
        attributes = self.resources[logical_id].attributes
        if attribute not in attributes:
            known = ", ".join(sorted(attributes)) or "none"
            raise TemplateError(f"Fn::GetAtt {logical_id}.{attribute}: unknown attribute (known: {known})")
        return attributes[attribute]

    def _get_att(self, args: Any) -> Any:
        if isinstance(args, str):
            logical_id, _, attribute = args.partition(".")
        else:
            logical_id, attribute = (str(self.resolve(a)) for a in args)
        return self.attribute(logical_id, attribute)

    def _sub(self, args: Any) -> str:
        if isinstance(args, list):
            text, raw_variables = args[0], args[1] if len(args) > 1 else {}
        else:
            text, raw_variables = args, {}
        variables = {k: self.resolve(v) for k, v in dict(raw_variables).items()}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1).strip()
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return _text(variables[name])
            if "." in name and not name.startswith("AWS::"):
                logical_id, _, attribute = name.partition(".")
                return _text(self.attribute(logical_id, attribute))
            value = self.ref_value(name)
            if isinstance(value, list):
                return ",".join(value)
            return _text(value)

        return _SUB_VARIABLE.sub(replace, str(text))

    def _if(self, args: Any) -> Any:
        name, when_true, when_false = args
        return self.resolve(when_true if self.template.condition_holds(str(name)) else when_false)

    def _join(self, args: Any) -> str:
        delimiter, items = args
        resolved = self.resolve(items)
        if not isinstance(resolved, list):
            raise TemplateError(f"Fn::Join expects a list, got {resolved!r}")
        return str(delimiter).join(_text(item) for item in resolved)

    def _select(self, args: Any) -> Any:
        index, items = args
        resolved = self.resolve(items)
        position = int(self.resolve(index))
        if not isinstance(resolved, list) or not 0 <= position < len(resolved):
            raise TemplateError(f"Fn::Select index {position} out of range of {resolved!r}")
        return resolved[position]

    def _split(self, args: Any) -> list[str]:
        delimiter, text = args
        return _text(self.resolve(text)).split(str(delimiter))

    def _find_in_map(self, args: Any) -> Any:
        map_name, top_key, second_key = (_text(self.resolve(a)) for a in args[:3])
        try:
            return self.template.mappings[map_name][top_key][second_key]
        except KeyError as exc:
            raise TemplateError(f"Fn::FindInMap {map_name}/{top_key}/{second_key}: not found") from exc

    def _base64(self, args: Any) -> str:
        return base64.b64encode(_text(self.resolve(args)).encode()).decode()

    def _import_value(self, args: Any) -> str:
        name = _text(self.resolve(args))
        if name not in self.imports:
            raise TemplateError(f"Fn::ImportValue {name!r}: no such export in the sandbox")
        return self.imports[name]

    def _get_azs(self, args: Any) -> list[str]:
        region = _text(self.resolve(args)) or self.template.pseudo.region
        return [f"{region}{zone}" for zone in "abc"]

    def _missing(self, name: str) -> str:
        if name in self.template.excluded:
            return f"{name} is not created: its condition {self.template.excluded[name]} is false"
        if name in self.template.resources:
            return f"{name} is referenced before it was created (dependency order)"
        return f"unknown parameter or resource {name!r}"


# --------------------------------------------------------------------------------------------------
# References (dependency order)
# --------------------------------------------------------------------------------------------------
def referenced_names(value: Any) -> set[str]:
    """Every name a value refers to through Ref, Fn::GetAtt or Fn::Sub (parameters and pseudo
    parameters included; callers keep the resource ids)."""
    return set(_walk_references(value))


def _walk_references(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        if _is_intrinsic(value):
            ((key, args),) = value.items()
            if key == "Ref" and isinstance(args, str):
                yield args
                return
            if key == "Fn::GetAtt":
                if isinstance(args, str):
                    yield args.partition(".")[0]
                elif isinstance(args, list) and args and isinstance(args[0], str):
                    yield args[0]
                    yield from _walk_references(args[1:])
                return
            if key == "Fn::Sub":
                text, variables = (
                    (args[0], args[1] if len(args) > 1 else {})
                    if isinstance(args, list)
                    else (
                        args,
                        {},
                    )
                )
                for match in _SUB_VARIABLE.finditer(str(text)):
                    name = match.group(1).strip()
                    if name.startswith("!") or name in variables:
                        continue
                    yield name.partition(".")[0] if not name.startswith("AWS::") else name
                yield from _walk_references(variables)
                return
        for item in value.values():
            yield from _walk_references(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk_references(item)
