// The calendar integration service on Azure Functions Flex Consumption, provisioned by `azd up`.
//
// Creates one resource group and calls resources.bicep for everything in it. Every output
// becomes a value in the azd environment (.azure/<env>/.env): the redirect URIs and webhook URLs
// to register with Microsoft and Google are printed here. See docs/operations.md.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; names and tags every resource.')
param environmentName string

@minLength(1)
@description('Azure region. Flex Consumption is offered in a subset of regions.')
@metadata({ azd: { type: 'location' } })
param location string

@description('Memory of each Flex Consumption instance in MB (512, 2048 or 4096).')
@allowed([512, 2048, 4096])
param instanceMemoryMB int = 2048

@description('Most instances the app scales out to. Bounds the parallel calls to Graph and Google.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Application (client) id of the multi-tenant Entra ID app registration.')
param microsoftClientId string

@secure()
@description('Client secret of that app registration; stored in Key Vault, never in app settings.')
param microsoftClientSecret string = ''

@description('OAuth client id of the Google Cloud project (web application client).')
param googleClientId string

@secure()
@description('OAuth client secret of that client; stored in Key Vault, never in app settings.')
param googleClientSecret string = ''

@description('JWKS URL of the host app\'s identity provider (AUTH_JWKS_URL).')
param authJwksUrl string

@description('Required issuer of caller tokens (AUTH_ISSUER).')
param authIssuer string

@description('Required audience of caller tokens (AUTH_AUDIENCE).')
param authAudience string = 'calendar-integration'

@description('Comma-separated https URL prefixes a consent flow may return to (ALLOWED_RETURN_URLS).')
param allowedReturnUrls string = ''

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = { 'azd-env-name': environmentName }

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module resources './resources.bicep' = {
  name: 'resources'
  scope: rg
  params: {
    location: location
    tags: tags
    resourceToken: resourceToken
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    microsoftClientId: microsoftClientId
    microsoftClientSecret: microsoftClientSecret
    googleClientId: googleClientId
    googleClientSecret: googleClientSecret
    authJwksUrl: authJwksUrl
    authIssuer: authIssuer
    authAudience: authAudience
    allowedReturnUrls: allowedReturnUrls
  }
}

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_NAME string = resources.outputs.functionAppName
output SERVICE_API_NAME string = resources.outputs.functionAppName
output SERVICE_API_URI string = resources.outputs.publicBaseUrl
output AZURE_KEY_VAULT_ENDPOINT string = resources.outputs.keyVaultUri
output APPLICATIONINSIGHTS_CONNECTION_STRING string = resources.outputs.applicationInsightsConnectionString
// Register these with the providers (docs/operations.md, "Configure the provider apps").
output MICROSOFT_REDIRECT_URI string = '${resources.outputs.publicBaseUrl}/api/oauth/microsoft/callback'
output MICROSOFT_ADMIN_CONSENT_REDIRECT_URI string = '${resources.outputs.publicBaseUrl}/api/oauth/microsoft/admin-consent'
output GOOGLE_REDIRECT_URI string = '${resources.outputs.publicBaseUrl}/api/oauth/google/callback'
output MICROSOFT_WEBHOOK_URL string = '${resources.outputs.publicBaseUrl}/api/webhooks/microsoft'
output MICROSOFT_LIFECYCLE_WEBHOOK_URL string = '${resources.outputs.publicBaseUrl}/api/webhooks/microsoft/lifecycle'
output GOOGLE_WEBHOOK_URL string = '${resources.outputs.publicBaseUrl}/api/webhooks/google'
