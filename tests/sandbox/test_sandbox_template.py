"""template.py: short tags, parameters, conditions, Globals, intrinsic resolution."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from sluice_cli.sandbox.template import (
    NO_VALUE,
    IntrinsicResolver,
    PseudoParameters,
    ResourceRef,
    TemplateError,
    load_template,
    load_yaml,
    merge_globals,
    referenced_names,
)

TEMPLATE = """
AWSTemplateFormatVersion: 2010-09-09
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage:
    Type: String
    Default: dev
    AllowedValues: [dev, prod]
  Email:
    Type: String
    Default: ""
    AllowedPattern: ^$|^[^@]+@[^@]+$
  Size:
    Type: Number
    Default: 5
    MinValue: 1
    MaxValue: 10
  Zones:
    Type: CommaDelimitedList
    Default: a,b,c
Mappings:
  StageMap:
    dev: {Retention: "1"}
    prod: {Retention: "14"}
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
  HasEmail: !Not [!Equals [!Ref Email, ""]]
  ProdOrEmail: !Or [!Condition IsProd, !Condition HasEmail]
  ProdAndEmail: !And [!Condition IsProd, !Condition HasEmail]
Globals:
  Function:
    Timeout: 30
    Handler: app.default
    Layers: [global-layer]
    Environment:
      Variables:
        TABLE: !Ref Table
        STAGE: !Ref Stage
Resources:
  Bucket:
    Type: AWS::S3::Bucket
  Table:
    Type: AWS::DynamoDB::Table
  ProdOnly:
    Type: AWS::SQS::Queue
    Condition: IsProd
  Fn:
    Type: AWS::Serverless::Function
    DependsOn: Bucket
    Properties:
      Handler: app.handler
      Layers: [own-layer]
      Environment:
        Variables:
          STAGE: overridden
          EXTRA: !Sub "${Bucket.Arn}/x"
  Values:
    Type: Custom::Values
    Properties:
      Sub: !Sub "arn:${AWS::Partition}:s3:::${Bucket}/${!Literal}-${AWS::Region}-${AWS::AccountId}"
      SubList: !Sub ["${Name}-${Stage}", {Name: !GetAtt Bucket.Arn}]
      GetAttList: !GetAtt [Table, Arn]
      Join: !Join ["-", [a, !Ref Stage, !Select [1, !Ref Zones]]]
      Split: !Split [",", "x,y"]
      Map: !FindInMap [StageMap, !Ref Stage, Retention]
      If: !If [IsProd, yes-prod, !Ref AWS::NoValue]
      IfList: [one, !If [IsProd, two, !Ref AWS::NoValue]]
      B64: !Base64 hello
      Imported: !ImportValue shared-thing
      StackName: !Ref AWS::StackName
      UrlSuffix: !Ref AWS::URLSuffix
      Size: !Ref Size
"""


def _write(tmp_path: Path, text: str = TEMPLATE) -> Path:
    path = tmp_path / "template.yaml"
    path.write_text(text)
    return path


def test_short_tags_load_into_long_form() -> None:
    body = load_yaml(
        "a: !Ref X\nb: !GetAtt R.Arn\nc: !GetAtt R.Nested.Attr\nd: !GetAtt [R, Arn]\n"
        "e: !Sub '${X}'\nf: !If [C, 1, 2]\ng: !Condition C\nh: !Base64 s\ni: !ImportValue v\n"
        "j: !Equals [1, 1]\nk: !Not [!Condition C]\nl: !And [!Condition C]\nm: !Or [!Condition C]\n"
        "n: !Join ['', [a]]\no: !Select [0, [a]]\np: !Split [',', 'a,b']\nq: !FindInMap [M, a, b]\n"
        "date: 2010-09-09\n"
    )
    assert body["a"] == {"Ref": "X"}
    assert body["b"] == {"Fn::GetAtt": ["R", "Arn"]}
    assert body["c"] == {"Fn::GetAtt": ["R", "Nested.Attr"]}
    assert body["d"] == {"Fn::GetAtt": ["R", "Arn"]}
    assert body["e"] == {"Fn::Sub": "${X}"}
    assert body["f"] == {"Fn::If": ["C", 1, 2]}
    assert body["g"] == {"Condition": "C"}
    assert body["k"] == {"Fn::Not": [{"Condition": "C"}]}
    assert body["q"] == {"Fn::FindInMap": ["M", "a", "b"]}
    assert body["i"] == {"Fn::ImportValue": "v"}
    assert body["j"] == {"Fn::Equals": [1, 1]}
    assert body["date"] == "2010-09-09"


def test_unknown_tag_fails() -> None:
    with pytest.raises(TemplateError, match="unknown YAML tag"):
        load_yaml("a: !Bogus x\n")


def test_parameters_conditions_and_globals(tmp_path: Path) -> None:
    template = load_template(_write(tmp_path))
    assert template.parameters == {"Stage": "dev", "Email": "", "Size": "5", "Zones": ["a", "b", "c"]}
    assert template.conditions == {
        "IsProd": False,
        "HasEmail": False,
        "ProdOrEmail": False,
        "ProdAndEmail": False,
    }
    assert "ProdOnly" not in template.resources
    assert template.excluded == {"ProdOnly": "IsProd"}

    (function,) = template.functions
    assert function.depends_on == ("Bucket",)
    props = function.properties
    assert props["Handler"] == "app.handler"  # the resource wins over Globals
    assert props["Timeout"] == 30  # from Globals
    assert props["Layers"] == ["global-layer", "own-layer"]  # lists add up
    assert props["Environment"]["Variables"] == {  # maps merge
        "TABLE": {"Ref": "Table"},
        "STAGE": "overridden",
        "EXTRA": {"Fn::Sub": "${Bucket.Arn}/x"},
    }

    prod = load_template(_write(tmp_path), parameters={"Stage": "prod", "Email": "a@b.c"})
    assert prod.conditions == {"IsProd": True, "HasEmail": True, "ProdOrEmail": True, "ProdAndEmail": True}
    assert "ProdOnly" in prod.resources


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"Stage": "qa"}, "not one of"),
        ({"Email": "nope"}, "does not match"),
        ({"Size": 11}, "above"),
        ({"Size": "x"}, "not a number"),
        ({"Unknown": "1"}, "unknown parameters"),
    ],
)
def test_parameter_validation(tmp_path: Path, parameters: dict[str, object], message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        load_template(_write(tmp_path), parameters=parameters)


def test_resolver_resolves_every_intrinsic(tmp_path: Path) -> None:
    pseudo = PseudoParameters(region="eu-west-1", account_id="111122223333", stack_name="demo")
    template = load_template(_write(tmp_path), pseudo=pseudo)
    resources = {
        "Bucket": ResourceRef("demo-bucket", {"Arn": "arn:aws:s3:::demo-bucket"}),
        "Table": ResourceRef(
            "demo-table", {"Arn": "arn:aws:dynamodb:eu-west-1:111122223333:table/demo-table"}
        ),
    }
    resolver = IntrinsicResolver(template, resources, imports={"shared-thing": "imported!"})
    values = resolver.resolve(template.resources["Values"].properties)
    assert values == {
        "Sub": "arn:aws:s3:::demo-bucket/${Literal}-eu-west-1-111122223333",
        "SubList": "arn:aws:s3:::demo-bucket-dev",
        "GetAttList": "arn:aws:dynamodb:eu-west-1:111122223333:table/demo-table",
        "Join": "a-dev-b",
        "Split": ["x", "y"],
        "Map": "1",
        # "If" resolved to AWS::NoValue: the key is gone
        "IfList": ["one"],
        "B64": base64.b64encode(b"hello").decode(),
        "Imported": "imported!",
        "StackName": "demo",
        "UrlSuffix": "amazonaws.com",
        "Size": "5",
    }
    env = resolver.resolve(template.functions[0].properties["Environment"]["Variables"])
    assert env == {"TABLE": "demo-table", "STAGE": "overridden", "EXTRA": "arn:aws:s3:::demo-bucket/x"}
    assert resolver.resolve({"Ref": "AWS::NoValue"}) is NO_VALUE


def test_resolver_errors_name_the_problem(tmp_path: Path) -> None:
    template = load_template(_write(tmp_path))
    resolver = IntrinsicResolver(template, {"Bucket": ResourceRef("b", {"Arn": "arn"})})
    with pytest.raises(TemplateError, match="condition IsProd is false"):
        resolver.resolve({"Ref": "ProdOnly"})
    with pytest.raises(TemplateError, match="before it was created"):
        resolver.resolve({"Ref": "Table"})
    with pytest.raises(TemplateError, match="unknown parameter or resource"):
        resolver.resolve({"Ref": "Nothing"})
    with pytest.raises(TemplateError, match=r"Bucket\.Nope: unknown attribute \(known: Arn\)"):
        resolver.resolve({"Fn::GetAtt": ["Bucket", "Nope"]})
    with pytest.raises(TemplateError, match="no such export"):
        resolver.resolve({"Fn::ImportValue": "missing"})
    with pytest.raises(TemplateError, match="not supported"):
        resolver.resolve({"Fn::Cidr": ["10.0.0.0/16", 1, 8]})


def test_referenced_names_follow_ref_getatt_and_sub() -> None:
    value = {
        "A": {"Ref": "One"},
        "B": {"Fn::GetAtt": ["Two", "Arn"]},
        "C": {"Fn::Sub": "${Three.Arn}/${Four}/${AWS::Region}/${!Skip}/${Var}"},
        "D": {"Fn::Sub": ["${Var}", {"Var": {"Ref": "Five"}}]},
        "E": [{"Fn::If": ["Cond", {"Ref": "Six"}, "x"]}],
        "F": {"Fn::GetAtt": "Seven.Arn"},
    }
    assert referenced_names(value) == {
        "One",
        "Two",
        "Three",
        "Four",
        "AWS::Region",
        "Var",
        "Five",
        "Six",
        "Seven",
    }


def test_merge_globals_keeps_intrinsics_whole() -> None:
    merged = merge_globals(
        {"Environment": {"Variables": {"A": {"Ref": "X"}}}, "Role": {"Fn::GetAtt": ["R", "Arn"]}},
        {"Environment": {"Variables": {"A": {"Fn::Sub": "y"}}}, "Role": "arn:aws:iam::1:role/r"},
    )
    assert merged == {"Environment": {"Variables": {"A": {"Fn::Sub": "y"}}}, "Role": "arn:aws:iam::1:role/r"}


def test_unsupported_transform_fails(tmp_path: Path) -> None:
    path = _write(
        tmp_path, "Transform: AWS::LanguageExtensions\nResources:\n  B:\n    Type: AWS::S3::Bucket\n"
    )
    with pytest.raises(TemplateError, match="not supported"):
        load_template(path)


REPOSITORY_TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


def test_batch_input_buckets_reach_the_batch_function_only_as_the_parameter_says() -> None:
    template = load_template(REPOSITORY_TEMPLATE, parameters={"BatchInputBuckets": "shared-features,team.b"})
    resolver = IntrinsicResolver(template, {})
    start_batch = template.resources["StartBatchFunction"].properties["Environment"]["Variables"]

    assert resolver.resolve(start_batch["BATCH_INPUT_BUCKETS"]) == "shared-features,team.b"
    assert "ARTIFACT_BUCKET" in start_batch  # Globals' variables merged in, not replaced
    default = load_template(REPOSITORY_TEMPLATE).parameters["BatchInputBuckets"]
    assert default == ""


@pytest.mark.parametrize("value", ["Other_Bucket", "a, b", "s3://bucket", "bucket,", "ab"])
def test_batch_input_buckets_must_be_bucket_names(value: str) -> None:
    with pytest.raises(TemplateError, match=r"BatchInputBuckets.*does not match"):
        load_template(REPOSITORY_TEMPLATE, parameters={"BatchInputBuckets": value})
