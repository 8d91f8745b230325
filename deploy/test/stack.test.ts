import { Match, type Template } from 'aws-cdk-lib/assertions'
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { NOTES_TABLE } from '../../src/storage/table.js'
import { SERVICE_DYNAMODB_ACTIONS } from '../lib/service-permissions.js'
import { ECR_IMAGE_URI, onlyResource, removeSynthOutput, synthesize, type Synthesized } from './helpers/synth.js'

const EXISTING_POOL_ID = 'eu-west-1_AbC123xyz'
const EXISTING_CLIENT_ID = '4example5client6id7abcdefgh'
const CERTIFICATE_ARN = 'arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-1111-2222-3333-444455556666'

function containerDefinition (template: Template): Record<string, any> {
  const definitions = onlyResource(template, 'AWS::ECS::TaskDefinition').resource.Properties.ContainerDefinitions
  assert.equal(definitions.length, 1, 'the task has one container')
  return definitions[0]
}

function containerEnvironment (template: Template): Record<string, unknown> {
  const entries = containerDefinition(template).Environment as Array<{ Name: string, Value: unknown }>
  return Object.fromEntries(entries.map((entry) => [entry.Name, entry.Value]))
}

function ref (id: string): { Ref: string } {
  return { Ref: id }
}

after(removeSynthOutput)

describe('stack with a new user pool', () => {
  let synthesized: Synthesized
  let template: Template

  before(() => {
    synthesized = synthesize()
    template = synthesized.template
  })

  test('synthesis needs no AWS lookups', () => {
    assert.equal(synthesized.stack.environment, 'aws://unknown-account/unknown-region')
    assert.equal(synthesized.assembly.manifest.missing, undefined)
  })

  test('synthesis reports no warnings or errors', () => {
    const messages = synthesized.assembly.getStackArtifact(synthesized.stack.artifactId).messages
    assert.deepEqual(messages.map((message) => `${message.level}: ${String(message.entry.data)}`), [])
  })

  test('table keys equal the definition module', () => {
    const { resource } = onlyResource(template, 'AWS::DynamoDB::Table')
    assert.deepEqual(resource.Properties.KeySchema, [
      { AttributeName: NOTES_TABLE.partitionKey.name, KeyType: 'HASH' },
      { AttributeName: NOTES_TABLE.sortKey.name, KeyType: 'RANGE' },
    ])
    const expectedAttributes = [
      NOTES_TABLE.partitionKey,
      NOTES_TABLE.sortKey,
      ...NOTES_TABLE.localIndexes.map((index) => index.sortKey),
    ].map((key) => ({ AttributeName: key.name, AttributeType: key.type }))
    assert.deepEqual(resource.Properties.AttributeDefinitions, expectedAttributes)
  })

  test('table indexes equal the definition module', () => {
    const { resource } = onlyResource(template, 'AWS::DynamoDB::Table')
    assert.equal(NOTES_TABLE.localIndexes.length, 2)
    assert.deepEqual(resource.Properties.LocalSecondaryIndexes, NOTES_TABLE.localIndexes.map((index) => ({
      IndexName: index.name,
      KeySchema: [
        { AttributeName: NOTES_TABLE.partitionKey.name, KeyType: 'HASH' },
        { AttributeName: index.sortKey.name, KeyType: 'RANGE' },
      ],
      Projection: { ProjectionType: 'ALL' },
    })))
    assert.equal(resource.Properties.GlobalSecondaryIndexes, undefined)
  })

  test('table billing, recovery, TTL and protection', () => {
    const { resource } = onlyResource(template, 'AWS::DynamoDB::Table')
    assert.equal(resource.Properties.BillingMode, 'PAY_PER_REQUEST')
    assert.deepEqual(resource.Properties.PointInTimeRecoverySpecification, { PointInTimeRecoveryEnabled: true })
    assert.deepEqual(resource.Properties.TimeToLiveSpecification, {
      AttributeName: NOTES_TABLE.ttlAttribute,
      Enabled: true,
    })
    assert.equal(resource.Properties.DeletionProtectionEnabled, true)
    assert.equal(resource.DeletionPolicy, 'Retain')
    assert.equal(resource.UpdateReplacePolicy, 'Retain')
  })

  test('action list is the service contract', () => {
    assert.deepEqual([...SERVICE_DYNAMODB_ACTIONS].sort(), [
      'dynamodb:DescribeTable',
      'dynamodb:GetItem',
      'dynamodb:Query',
      'dynamodb:UpdateItem',
    ])
  })

  test('task role allows only the service actions', () => {
    const { id: tableId } = onlyResource(template, 'AWS::DynamoDB::Table')
    const taskRoleArn = onlyResource(template, 'AWS::ECS::TaskDefinition').resource.Properties.TaskRoleArn
    const taskRoleId: string = taskRoleArn['Fn::GetAtt'][0]
    const taskRole = template.findResources('AWS::IAM::Role')[taskRoleId]
    assert.ok(taskRole, `task role ${taskRoleId} is in the template`)
    assert.equal(taskRole.Properties.ManagedPolicyArns, undefined, 'task role has no managed policies')
    assert.equal(taskRole.Properties.Policies, undefined, 'task role has no inline policies')

    const policies = Object.values(template.findResources('AWS::IAM::Policy', {
      Properties: { Roles: Match.arrayWith([ref(taskRoleId)]) },
    }))
    assert.equal(policies.length, 1, 'one policy is attached to the task role')
    const statements = policies[0]?.Properties.PolicyDocument.Statement
    assert.equal(statements.length, 1, 'the task role policy has one statement')

    const [statement] = statements
    assert.equal(statement.Effect, 'Allow')
    assert.equal(statement.Condition, undefined)
    assert.deepEqual([statement.Action].flat().sort(), [...SERVICE_DYNAMODB_ACTIONS].sort())
    const tableArn = { 'Fn::GetAtt': [tableId, 'Arn'] }
    assert.deepEqual(statement.Resource, [
      tableArn,
      { 'Fn::Join': ['', [tableArn, '/index/*']] },
    ])
  })

  test('no policy grants other DynamoDB actions', () => {
    const allowed = new Set<string>(SERVICE_DYNAMODB_ACTIONS)
    for (const [id, policy] of Object.entries(template.findResources('AWS::IAM::Policy'))) {
      for (const statement of policy.Properties.PolicyDocument.Statement) {
        for (const action of [statement.Action].flat() as string[]) {
          assert.notEqual(action, '*', `${id} allows every action`)
          if (action.startsWith('dynamodb:')) {
            assert.ok(!action.includes('*'), `${id} allows the wildcard ${action}`)
            assert.ok(allowed.has(action), `${id} allows ${action}`)
          }
        }
      }
    }
  })

  test('Fargate service runs at least two tasks', () => {
    const { resource } = onlyResource(template, 'AWS::ECS::Service')
    assert.equal(resource.Properties.LaunchType, 'FARGATE')
    assert.ok(resource.Properties.DesiredCount >= 2, `DesiredCount is ${resource.Properties.DesiredCount}`)
    assert.equal(resource.Properties.DeploymentConfiguration.MinimumHealthyPercent, 100)
    assert.deepEqual(resource.Properties.DeploymentConfiguration.DeploymentCircuitBreaker, { Enable: true, Rollback: true })
    assert.equal(resource.Properties.NetworkConfiguration.AwsvpcConfiguration.AssignPublicIp, 'DISABLED')
    const loadBalancers = resource.Properties.LoadBalancers
    assert.equal(loadBalancers.length, 1)
    assert.equal(loadBalancers[0].ContainerName, 'notes-sync')
    assert.equal(loadBalancers[0].ContainerPort, 3000)
  })

  test('CPU autoscaling keeps two tasks', () => {
    const { resource: target } = onlyResource(template, 'AWS::ApplicationAutoScaling::ScalableTarget')
    assert.ok(target.Properties.MinCapacity >= 2, `MinCapacity is ${target.Properties.MinCapacity}`)
    assert.equal(target.Properties.MaxCapacity, 10)
    assert.equal(target.Properties.ScalableDimension, 'ecs:service:DesiredCount')

    const { resource: policy } = onlyResource(template, 'AWS::ApplicationAutoScaling::ScalingPolicy')
    assert.equal(policy.Properties.PolicyType, 'TargetTrackingScaling')
    const tracking = policy.Properties.TargetTrackingScalingPolicyConfiguration
    assert.deepEqual(tracking.PredefinedMetricSpecification, { PredefinedMetricType: 'ECSServiceAverageCPUUtilization' })
    assert.equal(tracking.TargetValue, 60)
  })

  test('target group checks /ready and drains fast', () => {
    const { resource } = onlyResource(template, 'AWS::ElasticLoadBalancingV2::TargetGroup')
    assert.equal(resource.Properties.HealthCheckPath, '/ready')
    assert.deepEqual(resource.Properties.Matcher, { HttpCode: '200' })
    assert.equal(resource.Properties.TargetType, 'ip')
    const attributes = resource.Properties.TargetGroupAttributes as Array<{ Key: string, Value: string }>
    const delay = attributes.find((attribute) => attribute.Key === 'deregistration_delay.timeout_seconds')
    assert.equal(delay?.Value, '15')
  })

  test('load balancer hides /metrics', () => {
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::ListenerRule', {
      Conditions: [{ Field: 'path-pattern', PathPatternConfig: { Values: ['/metrics', '/metrics/*'] } }],
      Actions: [Match.objectLike({ Type: 'fixed-response', FixedResponseConfig: Match.objectLike({ StatusCode: '404' }) })],
    })
  })

  test('load balancer idle timeout is 60 s', () => {
    const { resource } = onlyResource(template, 'AWS::ElasticLoadBalancingV2::LoadBalancer')
    assert.equal(resource.Properties.Scheme, 'internet-facing')
    const attributes = resource.Properties.LoadBalancerAttributes as Array<{ Key: string, Value: string }>
    const idle = attributes.find((attribute) => attribute.Key === 'idle_timeout.timeout_seconds')
    assert.equal(idle?.Value, '60')
  })

  test('HTTP listener on port 80', () => {
    template.resourceCountIs('AWS::ElasticLoadBalancingV2::Listener', 1)
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', { Port: 80, Protocol: 'HTTP' })
  })

  test('container stop timeout covers the drain', () => {
    const container = containerDefinition(template)
    assert.equal(container.StopTimeout, 30)
    assert.deepEqual(container.PortMappings, [{ ContainerPort: 3000, Protocol: 'tcp' }])
  })

  test('container environment for production', () => {
    const { id: tableId } = onlyResource(template, 'AWS::DynamoDB::Table')
    const { id: poolId } = onlyResource(template, 'AWS::Cognito::UserPool')
    const { id: clientId } = onlyResource(template, 'AWS::Cognito::UserPoolClient')
    assert.deepEqual(containerEnvironment(template), {
      NODE_ENV: 'production',
      STORE: 'dynamodb',
      NOTES_TABLE: ref(tableId),
      AUTH_MODE: 'cognito',
      COGNITO_USER_POOL_ID: ref(poolId),
      COGNITO_CLIENT_ID: ref(clientId),
      COGNITO_TOKEN_USE: 'access',
      LOG_LEVEL: 'info',
      HOST: '0.0.0.0',
      PORT: '3000',
    })
  })

  test('container logs go to a one-month log group', () => {
    const { id, resource } = onlyResource(template, 'AWS::Logs::LogGroup')
    assert.equal(resource.Properties.RetentionInDays, 30)
    assert.equal(resource.DeletionPolicy, 'Retain')
    const logging = containerDefinition(template).LogConfiguration
    assert.equal(logging.LogDriver, 'awslogs')
    assert.deepEqual(logging.Options['awslogs-group'], ref(id))
  })

  test('ECR image is pullable by the task', () => {
    const executionRoleArn = onlyResource(template, 'AWS::ECS::TaskDefinition').resource.Properties.ExecutionRoleArn
    const executionRoleId: string = executionRoleArn['Fn::GetAtt'][0]
    template.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [ref(executionRoleId)],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: Match.arrayWith(['ecr:BatchGetImage']),
            Resource: 'arn:aws:ecr:eu-west-1:123456789012:repository/notes-sync',
          }),
        ]),
      },
    })
    assert.deepEqual(containerDefinition(template).Image, {
      'Fn::Join': ['', ['123456789012.dkr.ecr.eu-west-1.', { Ref: 'AWS::URLSuffix' }, '/notes-sync:1.0.0']],
    })
  })

  test('user pool and mobile client are created', () => {
    const { id: poolId, resource: pool } = onlyResource(template, 'AWS::Cognito::UserPool')
    assert.equal(pool.Properties.DeletionProtection, 'ACTIVE')
    assert.equal(pool.DeletionPolicy, 'Retain')
    const { resource: client } = onlyResource(template, 'AWS::Cognito::UserPoolClient')
    assert.deepEqual(client.Properties.UserPoolId, ref(poolId))
    assert.equal(client.Properties.GenerateSecret, false)
    assert.deepEqual([...client.Properties.ExplicitAuthFlows].sort(), [
      'ALLOW_REFRESH_TOKEN_AUTH',
      'ALLOW_USER_PASSWORD_AUTH',
      'ALLOW_USER_SRP_AUTH',
    ])
    assert.equal(client.Properties.AllowedOAuthFlowsUserPoolClient, false)
  })

  test('outputs name the URL, pool, client and table', () => {
    const { id: tableId } = onlyResource(template, 'AWS::DynamoDB::Table')
    const { id: poolId } = onlyResource(template, 'AWS::Cognito::UserPool')
    const { id: clientId } = onlyResource(template, 'AWS::Cognito::UserPoolClient')
    const { id: logGroupId } = onlyResource(template, 'AWS::Logs::LogGroup')
    const { id: loadBalancerId } = onlyResource(template, 'AWS::ElasticLoadBalancingV2::LoadBalancer')
    const outputs = template.findOutputs('*')
    assert.deepEqual(Object.keys(outputs).sort(), ['LogGroupName', 'ServiceUrl', 'TableName', 'UserPoolClientId', 'UserPoolId'])
    assert.deepEqual(outputs.ServiceUrl?.Value, { 'Fn::Join': ['', ['http://', { 'Fn::GetAtt': [loadBalancerId, 'DNSName'] }]] })
    assert.deepEqual(outputs.UserPoolId?.Value, ref(poolId))
    assert.deepEqual(outputs.UserPoolClientId?.Value, ref(clientId))
    assert.deepEqual(outputs.TableName?.Value, ref(tableId))
    assert.deepEqual(outputs.LogGroupName?.Value, ref(logGroupId))
  })

  test('VPC spans 2 AZs with one NAT gateway', () => {
    template.resourceCountIs('AWS::EC2::NatGateway', 1)
    template.resourceCountIs('AWS::EC2::Subnet', 4)
    template.hasResourceProperties('AWS::EC2::VPCEndpoint', {
      VpcEndpointType: 'Gateway',
      ServiceName: { 'Fn::Join': ['', ['com.amazonaws.', { Ref: 'AWS::Region' }, '.dynamodb']] },
    })
  })
})

describe('stack with an existing user pool', () => {
  let template: Template

  before(() => {
    template = synthesize({
      imageUri: ECR_IMAGE_URI,
      userPoolId: EXISTING_POOL_ID,
      clientId: EXISTING_CLIENT_ID,
    }).template
  })

  test('creates no Cognito resources', () => {
    for (const type of ['AWS::Cognito::UserPool', 'AWS::Cognito::UserPoolClient', 'AWS::Cognito::UserPoolDomain']) {
      template.resourceCountIs(type, 0)
    }
  })

  test('passes the given ids to the container', () => {
    const environment = containerEnvironment(template)
    assert.equal(environment.COGNITO_USER_POOL_ID, EXISTING_POOL_ID)
    assert.equal(environment.COGNITO_CLIENT_ID, EXISTING_CLIENT_ID)
    assert.equal(environment.AUTH_MODE, 'cognito')
    assert.equal(environment.NODE_ENV, 'production')
    assert.equal(environment.STORE, 'dynamodb')
  })

  test('outputs the given ids', () => {
    const outputs = template.findOutputs('*')
    assert.equal(outputs.UserPoolId?.Value, EXISTING_POOL_ID)
    assert.equal(outputs.UserPoolClientId?.Value, EXISTING_CLIENT_ID)
  })
})

describe('stack with a certificate', () => {
  let template: Template

  before(() => {
    template = synthesize({ imageUri: ECR_IMAGE_URI, certificateArn: CERTIFICATE_ARN }).template
  })

  test('serves HTTPS and redirects HTTP', () => {
    template.resourceCountIs('AWS::ElasticLoadBalancingV2::Listener', 2)
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Port: 443,
      Protocol: 'HTTPS',
      Certificates: [{ CertificateArn: CERTIFICATE_ARN }],
    })
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Port: 80,
      Protocol: 'HTTP',
      DefaultActions: [Match.objectLike({ Type: 'redirect', RedirectConfig: Match.objectLike({ Protocol: 'HTTPS', Port: '443' }) })],
    })
  })

  test('outputs an https URL', () => {
    const url = template.findOutputs('ServiceUrl').ServiceUrl?.Value
    assert.equal(url['Fn::Join'][1][0], 'https://')
  })
})

describe('stack with a public image', () => {
  test('pulls the URI without ECR grants', () => {
    const { template } = synthesize({ imageUri: 'ghcr.io/example/notes-sync:1.0.0' })
    assert.equal(containerDefinition(template).Image, 'ghcr.io/example/notes-sync:1.0.0')
    const actions = Object.values(template.findResources('AWS::IAM::Policy'))
      .flatMap((policy) => policy.Properties.PolicyDocument.Statement)
      .flatMap((statement) => [statement.Action].flat() as string[])
    assert.deepEqual(actions.filter((action) => action.startsWith('ecr:')), [])
  })
})
