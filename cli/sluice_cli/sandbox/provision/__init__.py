"""Create the stack of template.yaml in the emulator, resource by resource, with service APIs.

Not `cloudformation.create_stack`: moto skips every `AWS::Serverless::*` resource and the bucket's
EventBridge setting (docs/EMULATION.md, CloudFormation / SAM). Here each resource type has one
function that creates it (`stack_creation.CREATORS`); a type with no function and no entry in
`SKIPPED_RESOURCE_TYPES` stops provisioning with its name, so a resource added to the template cannot
be silently ignored.

Each function becomes a `FunctionSpec` for the in-process router, and a function of the same name in
moto's Lambda (placeholder code, the template's role, environment and handler) so that its name and ARN
resolve for Step Functions `lambda:invoke` tasks and lambda:Invoke; moto never runs it
(gaps.awslambda.StepFunctionsLambdaTasks hands the invocation to the router). Their `EventBridgeRule`
events become real EventBridge rules whose only target is a sandbox-owned SQS "route" queue (moto
delivers rule targets to SQS only; no Lambda or Step Functions target is ever registered); their `SQS`
events become `EventSourceMapping`s.

State machines (AWS::Serverless::StateMachine with Definition or a local DefinitionUri,
AWS::StepFunctions::StateMachine with Definition or DefinitionString) are created in moto's Step
Functions with DefinitionSubstitutions applied; their EventBridgeRule events, and AWS::Events::Rule
targets naming them, become route queues too (`StateMachineRoute`), on which the router starts an
execution per event.

Modules: `stack_creation` (`provision_stack`, the creator of each type, creation order), `build` (the
stack being built), `stack` (`StackOutputs` and the specs the router reads), `clients`, `properties`,
`event_routes` (rules to route queues), and one module per resource family: `storage`, `messaging`,
`security`, `monitoring`, `functions`, `state_machines`.
"""
