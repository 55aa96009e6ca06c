<%@ Page Language="C#" AutoEventWireup="true" Inherits="Microsoft.Exchange.HttpProxy.TimeoutLogoff" %>
<!DOCTYPE html>
<html><head><title>Exchange admin center</title></head><body></body></html>
