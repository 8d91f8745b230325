import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib'
import { Certificate } from 'aws-cdk-lib/aws-certificatemanager'
import { GatewayVpcEndpointAwsService, SubnetType, Vpc } from 'aws-cdk-lib/aws-ec2'
import {
  Cluster,
  CpuArchitecture,
  FargateTaskDefinition,
  LogDrivers,
  OperatingSystemFamily,
} from 'aws-cdk-lib/aws-ecs'
import { ApplicationLoadBalancedFargateService } from 'aws-cdk-lib/aws-ecs-patterns'
import {
  ApplicationProtocol,
  ListenerAction,
  ListenerCondition,
  SslPolicy,
} from 'aws-cdk-lib/aws-elasticloadbalancingv2'
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam'
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs'
import type { Construct } from 'constructs'
import { resolveServiceAuth } from './auth.js'
import type { ExistingUserPool, ImageSource } from './config.js'
import { serviceImage } from './container-image.js'
import { createNotesTable } from './notes-table.js'
import { SERVICE_DYNAMODB_ACTIONS } from './service-permissions.js'

export interface NotesSyncStackProps extends StackProps {
  readonly image: ImageSource
  /** Cognito pool and client to use. When undefined, the stack creates them. */
  readonly existingUserPool?: ExistingUserPool | undefined
  /** ACM certificate for an HTTPS listener. When undefined, the load balancer serves HTTP on 80. */
  readonly certificateArn?: string | undefined
}

const CONTAINER_NAME = 'notes-sync'
const CONTAINER_PORT = 3000

/**
 * The notes-sync service on ECS/Fargate behind a public Application Load
 * Balancer, with its DynamoDB table and Cognito user pool.
 *
 * Network: a VPC over 2 AZs with one NAT gateway, shared by the private
 * subnets of both AZs, where the tasks run without public IPs. One gateway
 * costs half as much as one per AZ. The price is that tasks lose their route
 * to the internet (Cognito signing keys, ECR, CloudWatch Logs) while the
 * gateway's AZ is down. DynamoDB traffic goes through a gateway endpoint,
 * which is free and does not depend on the NAT gateway.
 */
export class NotesSyncStack extends Stack {
  constructor (scope: Construct, id: string, props: NotesSyncStackProps) {
    super(scope, id, props)

    const table = createNotesTable(this, 'NotesTable')
    const auth = resolveServiceAuth(this, props.existingUserPool)

    const vpc = new Vpc(this, 'Vpc', {
      maxAzs: 2,
      natGateways: 1,
      subnetConfiguration: [
        { name: 'public', subnetType: SubnetType.PUBLIC },
        { name: 'private', subnetType: SubnetType.PRIVATE_WITH_EGRESS },
      ],
    })
    vpc.addGatewayEndpoint('DynamoDbEndpoint', { service: GatewayVpcEndpointAwsService.DYNAMODB })

    const cluster = new Cluster(this, 'Cluster', { vpc })

    const taskRole = new Role(this, 'TaskRole', {
      assumedBy: new ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: 'notes-sync service: DynamoDB access to the notes table only',
    })
    // Not table.grantReadWriteData(), which also allows PutItem, DeleteItem,
    // batch and scan actions that the service never calls.
    taskRole.addToPolicy(new PolicyStatement({
      actions: [...SERVICE_DYNAMODB_ACTIONS],
      resources: [table.tableArn, `${table.tableArn}/index/*`],
    }))

    const logGroup = new LogGroup(this, 'ServiceLogs', {
      retention: RetentionDays.ONE_MONTH,
      // Retention already expires the events, so a retained group only keeps
      // the last month of logs for reading after the stack is gone.
      removalPolicy: RemovalPolicy.RETAIN,
    })

    const taskDefinition = new FargateTaskDefinition(this, 'TaskDefinition', {
      cpu: 256,
      memoryLimitMiB: 512,
      taskRole,
      runtimePlatform: {
        cpuArchitecture: CpuArchitecture.X86_64,
        operatingSystemFamily: OperatingSystemFamily.LINUX,
      },
    })
    taskDefinition.addContainer('Server', {
      containerName: CONTAINER_NAME,
      image: serviceImage(this, props.image),
      portMappings: [{ containerPort: CONTAINER_PORT }],
      logging: LogDrivers.awsLogs({ logGroup, streamPrefix: CONTAINER_NAME }),
      // AWS_REGION is not set here because ECS sets it in every task (see
      // "Amazon ECS environment variables" in the ECS developer guide).
      environment: {
        NODE_ENV: 'production',
        STORE: 'dynamodb',
        NOTES_TABLE: table.tableName,
        AUTH_MODE: 'cognito',
        COGNITO_USER_POOL_ID: auth.userPoolId,
        COGNITO_CLIENT_ID: auth.clientId,
        COGNITO_TOKEN_USE: 'access',
        LOG_LEVEL: 'info',
        HOST: '0.0.0.0',
        PORT: String(CONTAINER_PORT),
      },
      // Time from SIGTERM to SIGKILL. After SIGTERM the server gives
      // in-flight requests up to 10 s to finish (SHUTDOWN_GRACE_MS in
      // src/server.ts) and then exits, so 30 s leaves room.
      //
      // When the service stops a task (deployment, scale-in), ECS first
      // deregisters it from the target group, waits out the deregistration
      // delay (15 s, below) and only then sends SIGTERM. The two periods run
      // one after the other, so neither has to cover the other. If SIGTERM
      // reaches a task that is still registered, /ready returns 503 at once,
      // and the load balancer takes the target out after two failed health
      // checks (about 20 s).
      stopTimeout: Duration.seconds(30),
    })

    const certificate = props.certificateArn === undefined
      ? undefined
      : Certificate.fromCertificateArn(this, 'Certificate', props.certificateArn)

    const service = new ApplicationLoadBalancedFargateService(this, 'Service', {
      cluster,
      taskDefinition,
      desiredCount: 2,
      // Keep both tasks serving during a deployment, and roll back one that
      // never becomes healthy.
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      circuitBreaker: { rollback: true },
      healthCheckGracePeriod: Duration.seconds(60),
      publicLoadBalancer: true,
      // The server's keepAliveTimeout (SERVER_TIMEOUTS in src/app.ts, 65 s)
      // must stay above this, so that the load balancer, not the server,
      // closes idle connections. Otherwise the load balancer can reuse a
      // connection that the server has just closed, and the client gets a 502.
      idleTimeout: Duration.seconds(60),
      ...(certificate === undefined
        ? { protocol: ApplicationProtocol.HTTP, listenerPort: 80 }
        : {
            protocol: ApplicationProtocol.HTTPS,
            listenerPort: 443,
            certificate,
            sslPolicy: SslPolicy.RECOMMENDED_TLS,
            redirectHTTP: true,
          }),
    })

    service.targetGroup.configureHealthCheck({
      path: '/ready',
      healthyHttpCodes: '200',
      interval: Duration.seconds(10),
      timeout: Duration.seconds(5),
      healthyThresholdCount: 2,
      unhealthyThresholdCount: 2,
    })
    // How long the load balancer lets requests already sent to a
    // deregistering task finish. Sync requests are short, so 15 s is enough
    // and keeps deployments fast (the default is 300 s).
    service.targetGroup.setAttribute('deregistration_delay.timeout_seconds', '15')

    // /metrics is for a scraper inside the VPC, which reaches the tasks
    // directly. The public load balancer responds to it with 404 itself.
    service.listener.addAction('HideMetrics', {
      priority: 10,
      conditions: [ListenerCondition.pathPatterns(['/metrics', '/metrics/*'])],
      action: ListenerAction.fixedResponse(404, {
        contentType: 'application/json',
        messageBody: JSON.stringify({ statusCode: 404, error: 'Not Found', message: 'Not found.', code: 'NOT_FOUND' }),
      }),
    })

    const scaling = service.service.autoScaleTaskCount({ minCapacity: 2, maxCapacity: 10 })
    scaling.scaleOnCpuUtilization('CpuScaling', {
      targetUtilizationPercent: 60,
      scaleOutCooldown: Duration.seconds(60),
      scaleInCooldown: Duration.seconds(300),
    })

    // The pattern adds its own LoadBalancerDNS and ServiceURL outputs with
    // generated names. The ServiceUrl output below replaces both.
    service.node.tryRemoveChild('LoadBalancerDNS')
    service.node.tryRemoveChild('ServiceURL')

    const scheme = certificate === undefined ? 'http' : 'https'
    new CfnOutput(this, 'ServiceUrl', {
      description: 'Base URL of the service (the load balancer DNS name)',
      value: `${scheme}://${service.loadBalancer.loadBalancerDnsName}`,
    })
    new CfnOutput(this, 'UserPoolId', { description: 'Cognito user pool id', value: auth.userPoolId })
    new CfnOutput(this, 'UserPoolClientId', { description: 'Cognito app client id', value: auth.clientId })
    new CfnOutput(this, 'TableName', { description: 'DynamoDB notes table', value: table.tableName })
    new CfnOutput(this, 'LogGroupName', { description: 'CloudWatch log group of the service', value: logGroup.logGroupName })
  }
}
