import { hostInfo } from './hostInfo';

describe('hostInfo', () => {
  it.each([
    // API Gateway, including VPC endpoint forms
    ['abc123.execute-api.eu-west-1.amazonaws.com', 'execute-api', 'eu-west-1'],
    ['abc123-vpce-0123abcd.execute-api.us-east-1.amazonaws.com', 'execute-api', 'us-east-1'],
    ['vpce-0123-abcd.execute-api.ap-south-1.vpce.amazonaws.com', 'execute-api', 'ap-south-1'],
    // Lambda function URLs
    ['abcdefghij.lambda-url.us-west-2.on.aws', 'lambda', 'us-west-2'],
    // OpenSearch
    ['search-logs-abc.eu-central-1.es.amazonaws.com', 'es', 'eu-central-1'],
    ['vpc-logs-abc.eu-central-1.es.amazonaws.com', 'es', 'eu-central-1'],
    ['abc123xyz.us-east-1.aoss.amazonaws.com', 'aoss', 'us-east-1'],
    // S3
    ['s3.amazonaws.com', 's3', 'us-east-1'],
    ['my-bucket.s3.amazonaws.com', 's3', 'us-east-1'],
    ['s3.eu-west-1.amazonaws.com', 's3', 'eu-west-1'],
    ['s3-eu-west-1.amazonaws.com', 's3', 'eu-west-1'],
    ['my-bucket.s3.eu-west-1.amazonaws.com', 's3', 'eu-west-1'],
    ['my.dotted.bucket.s3.eu-west-1.amazonaws.com', 's3', 'eu-west-1'],
    ['my-bucket.s3-eu-west-1.amazonaws.com', 's3', 'eu-west-1'],
    ['s3.dualstack.ap-northeast-1.amazonaws.com', 's3', 'ap-northeast-1'],
    ['my-bucket.s3.dualstack.ap-northeast-1.amazonaws.com', 's3', 'ap-northeast-1'],
    ['s3-fips.us-gov-west-1.amazonaws.com', 's3', 'us-gov-west-1'],
    ['s3-fips.dualstack.us-east-2.amazonaws.com', 's3', 'us-east-2'],
    ['ap-123456789012.s3-accesspoint.us-east-1.amazonaws.com', 's3', 'us-east-1'],
    ['bucket.vpce-1a2b3c4d-5e6f.s3.us-east-1.vpce.amazonaws.com', 's3', 'us-east-1'],
    ['my-bucket.s3.cn-north-1.amazonaws.com.cn', 's3', 'cn-north-1'],
    // Bedrock, SageMaker, AppSync, IoT, SES
    ['bedrock-runtime.us-east-1.amazonaws.com', 'bedrock', 'us-east-1'],
    ['bedrock-agent-runtime.eu-west-3.amazonaws.com', 'bedrock', 'eu-west-3'],
    ['bedrock-runtime-fips.us-east-1.amazonaws.com', 'bedrock', 'us-east-1'],
    ['runtime.sagemaker.eu-west-1.amazonaws.com', 'sagemaker', 'eu-west-1'],
    ['abcdefgh.appsync-api.us-east-2.amazonaws.com', 'appsync', 'us-east-2'],
    ['a1b2c3-ats.iot.eu-west-1.amazonaws.com', 'iotdata', 'eu-west-1'],
    ['data-ats.iot.eu-west-1.amazonaws.com', 'iotdata', 'eu-west-1'],
    ['iot.eu-west-1.amazonaws.com', 'iot', 'eu-west-1'],
    ['api.iot.eu-west-1.amazonaws.com', 'iot', 'eu-west-1'],
    ['data-jobs.iot.eu-west-1.amazonaws.com', 'iot-jobs-data', 'eu-west-1'],
    ['email.us-east-1.amazonaws.com', 'ses', 'us-east-1'],
    // The SDK convention, dual-stack, China, GovCloud, FIPS
    ['dynamodb.eu-north-1.amazonaws.com', 'dynamodb', 'eu-north-1'],
    ['dynamodb-fips.us-gov-west-1.amazonaws.com', 'dynamodb', 'us-gov-west-1'],
    ['ec2.us-east-1.api.aws', 'ec2', 'us-east-1'],
    ['sqs.cn-northwest-1.amazonaws.com.cn', 'sqs', 'cn-northwest-1'],
    ['states.ap-southeast-2.amazonaws.com', 'states', 'ap-southeast-2'],
    // Global endpoints
    ['iam.amazonaws.com', 'iam', 'us-east-1'],
    ['sts.amazonaws.com', 'sts', 'us-east-1'],
    ['sts.eu-west-1.amazonaws.com', 'sts', 'eu-west-1'],
  ])('%s signs as %s in %s', (host, service, region) => {
    expect(hostInfo(host)).toEqual({ service, region });
  });

  it('accepts upper case and a trailing dot', () => {
    expect(hostInfo('ABC.Execute-API.eu-west-1.amazonaws.com.')).toEqual({
      service: 'execute-api',
      region: 'eu-west-1',
    });
  });

  it('knows the service but not the region of S3 Transfer Acceleration', () => {
    expect(hostInfo('my-bucket.s3-accelerate.amazonaws.com')).toEqual({ service: 's3' });
    expect(hostInfo('my-bucket.s3-accelerate.dualstack.amazonaws.com')).toEqual({ service: 's3' });
  });

  it.each([
    'localhost',
    '127.0.0.1',
    'api.example.com',
    'reports.internal',
    'amazonaws.com.evil.example',
    'execute-api.eu-west-1.amazonaws.com.evil.example',
    'evilamazonaws.com',
    'unknown.amazonaws.com',
    'lambda-url.us-east-1.on.aws',
  ])('derives nothing from %s', host => {
    expect(hostInfo(host)).toEqual({});
  });
});
