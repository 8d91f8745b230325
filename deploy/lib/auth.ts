import { Duration, RemovalPolicy } from 'aws-cdk-lib'
import { AccountRecovery, UserPool } from 'aws-cdk-lib/aws-cognito'
import type { Construct } from 'constructs'
import type { ExistingUserPool } from './config.js'

/** Cognito ids that the service is configured with. */
export interface ServiceAuth {
  readonly userPoolId: string
  readonly clientId: string
}

/**
 * Creates a user pool and an app client for the mobile app.
 *
 * The client has no secret, because a secret shipped inside a mobile app is
 * not secret. It allows SRP, refresh tokens and USER_PASSWORD_AUTH, which
 * docs/deploy-notes.md uses to get a token with the AWS CLI. OAuth is
 * disabled because the app signs in through the Cognito API, not a hosted UI.
 *
 * Self sign-up is off, so accounts are created by an administrator
 * (`aws cognito-idp admin-create-user`) until the app gets a sign-up flow.
 * Like the table, the pool has deletion protection and is retained when the
 * stack is deleted, because it stores the user accounts.
 */
function createUserPool (scope: Construct): ServiceAuth {
  const pool = new UserPool(scope, 'UserPool', {
    selfSignUpEnabled: false,
    signInAliases: { email: true },
    accountRecovery: AccountRecovery.EMAIL_ONLY,
    deletionProtection: true,
    removalPolicy: RemovalPolicy.RETAIN,
  })
  const client = pool.addClient('MobileClient', {
    generateSecret: false,
    authFlows: { userPassword: true, userSrp: true },
    disableOAuth: true,
    preventUserExistenceErrors: true,
    accessTokenValidity: Duration.hours(1),
    idTokenValidity: Duration.hours(1),
    refreshTokenValidity: Duration.days(30),
  })
  return { userPoolId: pool.userPoolId, clientId: client.userPoolClientId }
}

/**
 * Returns the ids of `existing` when given, and otherwise creates a user pool
 * and app client in `scope`.
 */
export function resolveServiceAuth (scope: Construct, existing: ExistingUserPool | undefined): ServiceAuth {
  if (existing !== undefined) return existing
  return createUserPool(scope)
}
