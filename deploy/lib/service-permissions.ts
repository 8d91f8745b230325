/**
 * DynamoDB actions that the notes-sync service calls, and no others. The task
 * role allows exactly these on the notes table and its index ARNs
 * (`table/index/*`, which Query on an index needs), and the stack test checks
 * the synthesized policy against this list.
 */
export const SERVICE_DYNAMODB_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:UpdateItem',
  'dynamodb:Query',
  'dynamodb:DescribeTable',
] as const
